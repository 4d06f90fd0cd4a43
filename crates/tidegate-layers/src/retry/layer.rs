use std::sync::Arc;

use tower::Layer;

use super::{Retry, RetrySettings, service::Shared};

/// Retries safe failures within a budget. See the [module docs](super).
///
/// Clones share one budget; build one layer per connector.
#[derive(Clone, Debug)]
pub struct RetryLayer {
    shared: Arc<Shared>,
}

impl RetryLayer {
    /// A layer with these settings and a fresh budget.
    pub fn new(settings: RetrySettings) -> Self {
        Self {
            shared: Arc::new(Shared::new(settings)),
        }
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = Retry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry::from_shared(inner, Arc::clone(&self.shared))
    }
}
