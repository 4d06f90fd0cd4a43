use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use pin_project_lite::pin_project;
use tidegate_core::{Body, Error};

use super::{GuardedBody, SlotGuard};

pin_project! {
    /// Response future of [`Bulkhead`](super::Bulkhead): the slot moves into the response
    /// body, so it is held until the body ends.
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = Proj]
    enum State<F> {
        Admitted { #[pin] inner: F, slot: Option<SlotGuard> },
        Shed { error: Option<Error> },
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn admitted(inner: F, slot: SlotGuard) -> Self {
        Self {
            state: State::Admitted {
                inner,
                slot: Some(slot),
            },
        }
    }

    pub(super) fn shed(error: Error) -> Self {
        Self {
            state: State::Shed { error: Some(error) },
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
            Proj::Admitted { inner, slot } => {
                let result = ready!(inner.poll(cx));
                Poll::Ready(result.map(|response| match slot.take() {
                    Some(slot) => response.map(|body| GuardedBody::boxed(body, slot)),
                    None => response,
                }))
            }
            Proj::Shed { error } => {
                Poll::Ready(Err(error.take().expect("polled after completion")))
            }
        }
    }
}
