use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use pin_project_lite::pin_project;
use tidegate_core::{Body, Error};
use tokio::time::Instant;

use super::{Outcome, Permit};

pin_project! {
    /// Response future of [`CircuitBreaker`](super::CircuitBreaker). Holds the call's
    /// [`Permit`]: dropped unfinished, the permit hands a half-open probe back.
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = Proj]
    enum State<F> {
        Admitted {
            #[pin]
            inner: F,
            permit: Option<Permit>,
            started: Option<Instant>,
        },
        Rejected { error: Option<Error> },
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn admitted(inner: F, permit: Permit, started: Option<Instant>) -> Self {
        ResponseFuture {
            state: State::Admitted {
                inner,
                permit: Some(permit),
                started,
            },
        }
    }

    pub(super) fn rejected(error: Error) -> Self {
        ResponseFuture {
            state: State::Rejected { error: Some(error) },
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
            Proj::Admitted {
                inner,
                permit,
                started,
            } => {
                let result = ready!(inner.poll(cx));
                if let Some(permit) = permit.take() {
                    let settings = permit.breaker().settings();
                    let outcome = Outcome::of(&result, &settings.failure_statuses);
                    let slow = match (started, settings.slow_call_duration) {
                        (Some(started), Some(limit)) => started.elapsed() >= limit,
                        _ => false,
                    };
                    permit.record(outcome, slow);
                }
                Poll::Ready(result)
            }
            Proj::Rejected { error } => {
                Poll::Ready(Err(error.take().expect("polled after completion")))
            }
        }
    }
}
