use std::time::Duration;

use tower::Layer;

use super::{AttemptTimeout, Timeout, TimeoutSettings};

/// Applies a total deadline (and optionally a body idle timeout) to every call.
/// See the [module docs](super).
#[derive(Clone, Copy, Debug, Default)]
pub struct TimeoutLayer {
    settings: TimeoutSettings,
}

impl TimeoutLayer {
    /// A layer with these settings.
    pub fn new(settings: TimeoutSettings) -> Self {
        Self { settings }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Timeout::new(inner, self.settings)
    }
}

/// Bounds each attempt by `attempt` and by the call's [`Deadline`](super::Deadline).
#[derive(Clone, Copy, Debug)]
pub struct AttemptTimeoutLayer {
    attempt: Duration,
}

impl AttemptTimeoutLayer {
    /// A layer bounding every attempt to `attempt`.
    pub fn new(attempt: Duration) -> Self {
        Self { attempt }
    }
}

impl<S> Layer<S> for AttemptTimeoutLayer {
    type Service = AttemptTimeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AttemptTimeout::new(inner, self.attempt)
    }
}
