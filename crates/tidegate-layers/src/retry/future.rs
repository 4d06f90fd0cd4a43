use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use pin_project_lite::pin_project;
use tidegate_core::{Body, Error};

type Retrying = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Error>> + Send>>;

pin_project! {
    /// Response future of [`Retry`](super::Retry): the inner future itself when the request
    /// cannot be retried (no allocation), else the boxed retry loop.
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = Proj]
    enum State<F> {
        Once { #[pin] inner: F },
        Retrying { inner: Retrying },
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn once(inner: F) -> Self {
        Self {
            state: State::Once { inner },
        }
    }

    pub(super) fn retrying(inner: Retrying) -> Self {
        Self {
            state: State::Retrying { inner },
        }
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<Body>, Error>>,
{
    type Output = Result<http::Response<Body>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            Proj::Once { inner } => inner.poll(cx),
            Proj::Retrying { inner } => inner.as_mut().poll(cx),
        }
    }
}
