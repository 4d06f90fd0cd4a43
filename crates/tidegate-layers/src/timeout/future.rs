use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
    time::Duration,
};

use pin_project_lite::pin_project;
use tidegate_core::{Body, Error, ErrorCode};
use tokio::time::{Instant, Sleep, sleep_until};

use super::{IdleTimeoutBody, service::IdleContext};

pin_project! {
    /// Response future of [`Timeout`](super::Timeout): the inner future raced against the
    /// deadline; on success the body is wrapped in an [`IdleTimeoutBody`] when configured.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        #[pin]
        sleep: Sleep,
        total: Duration,
        idle: Option<IdleContext>,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(
        inner: F,
        deadline: Instant,
        total: Duration,
        idle: Option<IdleContext>,
    ) -> Self {
        Self {
            inner,
            sleep: sleep_until(deadline),
            total,
            idle,
        }
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<Body>, Error>>,
{
    type Output = Result<http::Response<Body>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(result) = this.inner.poll(cx) {
            return Poll::Ready(result.map(|response| match this.idle.take() {
                Some(idle) => response.map(|body| IdleTimeoutBody::boxed(body, idle)),
                None => response,
            }));
        }
        ready!(this.sleep.poll(cx));
        Poll::Ready(Err(Error::new(
            ErrorCode::UpstreamTimeout,
            format!(
                "the upstream did not answer within the connector's {}ms timeout",
                this.total.as_millis()
            ),
        )))
    }
}

pin_project! {
    /// Response future of [`AttemptTimeout`](super::AttemptTimeout).
    pub struct AttemptResponseFuture<F> {
        #[pin]
        inner: F,
        #[pin]
        sleep: Sleep,
        attempt: Duration,
    }
}

impl<F> AttemptResponseFuture<F> {
    pub(super) fn new(inner: F, expires: Instant, attempt: Duration) -> Self {
        Self {
            inner,
            sleep: sleep_until(expires),
            attempt,
        }
    }
}

impl<F> Future for AttemptResponseFuture<F>
where
    F: Future<Output = Result<http::Response<Body>, Error>>,
{
    type Output = Result<http::Response<Body>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(result) = this.inner.poll(cx) {
            return Poll::Ready(result);
        }
        ready!(this.sleep.poll(cx));
        Poll::Ready(Err(Error::new(
            ErrorCode::UpstreamTimeout,
            format!(
                "the upstream did not answer one attempt within {}ms",
                this.attempt.as_millis()
            ),
        )))
    }
}
