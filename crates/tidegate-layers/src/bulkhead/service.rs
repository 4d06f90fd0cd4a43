use std::{
    sync::Arc,
    task::{Context, Poll},
};

use tidegate_core::{Body, Error, ErrorCode};
use tower::Service;

use super::{ResponseFuture, Slots};

/// The service of [`BulkheadLayer`](super::BulkheadLayer).
#[derive(Clone, Debug)]
pub struct Bulkhead<S> {
    inner: S,
    slots: Arc<Slots>,
}

impl<S> Bulkhead<S> {
    pub(super) fn new(inner: S, slots: Arc<Slots>) -> Self {
        Self { inner, slots }
    }
}

impl<S> Service<http::Request<Body>> for Bulkhead<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Error>,
{
    type Response = http::Response<Body>;
    type Error = Error;
    type Future = ResponseFuture<S::Future>;

    /// Readiness is the inner service's: the slot is taken in `call`, so a readied but
    /// unused service holds none.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        match self.slots.try_take() {
            Some(slot) => ResponseFuture::admitted(self.inner.call(req), slot),
            None => ResponseFuture::shed(Error::new(
                ErrorCode::Overloaded,
                format!(
                    "the connector's concurrency limit ({}) is reached",
                    self.slots.limit
                ),
            )),
        }
    }
}
