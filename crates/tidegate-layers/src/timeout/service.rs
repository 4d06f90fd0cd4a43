use std::{
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use tidegate_core::{Body, Error, RequestContext};
use tokio::time::Instant;
use tower::Service;

use super::{AttemptResponseFuture, Deadline, ResponseFuture, TimeoutSettings};

/// The service of [`TimeoutLayer`](super::TimeoutLayer).
#[derive(Clone, Debug)]
pub struct Timeout<S> {
    inner: S,
    settings: TimeoutSettings,
}

impl<S> Timeout<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, settings: TimeoutSettings) -> Self {
        Self { inner, settings }
    }
}

/// What the idle-timeout body needs to log a cut body usefully.
#[derive(Clone, Debug)]
pub(super) struct IdleContext {
    pub(super) idle: Duration,
    pub(super) connector: Option<Arc<str>>,
    pub(super) request_id: Option<Arc<str>>,
}

impl<S> Service<http::Request<Body>> for Timeout<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Error>,
{
    type Response = http::Response<Body>;
    type Error = Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<Body>) -> Self::Future {
        let mut deadline = Instant::now() + self.settings.total;
        if let Some(outer) = Deadline::of(&req) {
            deadline = deadline.min(outer);
        }
        req.extensions_mut().insert(Deadline(deadline));
        let idle = self.settings.body_idle.map(|idle| {
            let ctx = RequestContext::of(&req);
            IdleContext {
                idle,
                connector: ctx.map(|c| c.connector.clone()),
                request_id: ctx.map(|c| c.request_id.clone()),
            }
        });
        ResponseFuture::new(self.inner.call(req), deadline, self.settings.total, idle)
    }
}

/// The service of [`AttemptTimeoutLayer`](super::AttemptTimeoutLayer).
#[derive(Clone, Debug)]
pub struct AttemptTimeout<S> {
    inner: S,
    attempt: Duration,
}

impl<S> AttemptTimeout<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, attempt: Duration) -> Self {
        Self { inner, attempt }
    }
}

impl<S> Service<http::Request<Body>> for AttemptTimeout<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Error>,
{
    type Response = http::Response<Body>;
    type Error = Error;
    type Future = AttemptResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let mut expires = Instant::now() + self.attempt;
        if let Some(deadline) = Deadline::of(&req) {
            expires = expires.min(deadline);
        }
        AttemptResponseFuture::new(self.inner.call(req), expires, self.attempt)
    }
}
