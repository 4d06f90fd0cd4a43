//! [`ResponseFuture`] and the emission of a record.

use std::{
    borrow::Cow,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll, ready},
    time::Duration,
};

use http::Response;
use pin_project_lite::pin_project;
use tidegate_core::{Body, Error, ErrorCode};
use tokio::time::Instant;

use super::{
    body::{Captured, TeeBody},
    layer::Settings,
    line::{self, ErrorPart, ResponsePart},
    record::ResponseRecord,
};
use crate::redact::BodyMode;

/// What is known about an exchange before its response arrives: the line so far (up to the
/// request's `idempotency_key`, the request object still open) and what is needed to finish it.
pub(super) struct Pending {
    pub(super) line: Vec<u8>,
    pub(super) started: Instant,
    pub(super) sampled: bool,
    pub(super) request_capture: Option<Arc<Mutex<Captured>>>,
    pub(super) settings: Arc<Settings>,
}

impl Pending {
    fn emit(
        mut self,
        response: Option<&ResponsePart<'_>>,
        error: Option<&ErrorPart<'_>>,
        outcome: &str,
    ) {
        let mut request_body = None;
        if let Some(capture) = self.request_capture.take()
            && let Ok(captured) = capture.lock()
        {
            request_body = if captured.ended {
                self.settings.redactor.body(
                    &self.settings.body_mode,
                    &captured.bytes,
                    captured.total_len,
                    captured.content_type.as_deref(),
                )
            } else {
                self.settings.redactor.body_shape(
                    &self.settings.body_mode,
                    captured.total_len,
                    captured.content_type.as_deref(),
                )
            };
        }
        line::close(
            &mut self.line,
            request_body.as_ref(),
            response,
            error,
            outcome,
        );
        self.settings.sink.emit(self.line);
    }

    /// Records an exchange that ended without a response.
    fn fail(self, code: ErrorCode, message: &str) {
        let latency = self.started.elapsed();
        let message = self.settings.redactor.text(message);
        let error = ErrorPart {
            latency_ms: millis(latency),
            message: &message,
        };
        self.emit(None, Some(&error), code.as_str());
    }
}

/// Completes a record whose response body was captured.
pub(super) struct Finisher {
    pending: Pending,
    response: ResponseRecord,
    outcome: &'static str,
}

impl Finisher {
    pub(super) fn finish(mut self, captured: Captured, error: Option<String>) {
        let settings = &self.pending.settings;
        self.response.body = if captured.ended {
            settings.redactor.body(
                &settings.body_mode,
                &captured.bytes,
                captured.total_len,
                captured.content_type.as_deref(),
            )
        } else {
            // Dropped or failed before the end: what was seen, never a partial parse.
            settings.redactor.body_shape(
                &settings.body_mode,
                captured.total_len,
                captured.content_type.as_deref(),
            )
        };
        let latency_ms = millis(self.pending.started.elapsed());
        let message =
            error.map(|message| self.pending.settings.redactor.text(&message).into_owned());
        let error = message.as_deref().map(|message| ErrorPart {
            latency_ms,
            message,
        });
        let response = self.response.part();
        self.pending
            .emit(Some(&response), error.as_ref(), self.outcome);
    }
}

pin_project! {
    /// The response future of [`BoundaryLog`](super::BoundaryLog).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        guard: Guard,
    }
}

/// Holds the pending record until the response arrives; if the future is dropped first (a
/// per-attempt timeout outside this layer, or the caller going away), the line is still
/// written, as `upstream_timeout`.
struct Guard(Option<Pending>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(pending) = self.0.take() {
            pending.fail(
                ErrorCode::UpstreamTimeout,
                "the exchange was abandoned before a response arrived (timeout or cancellation)",
            );
        }
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, pending: Pending) -> Self {
        ResponseFuture {
            inner,
            guard: Guard(Some(pending)),
        }
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<Body>, Error>>,
{
    type Output = Result<Response<Body>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let Some(pending) = this.guard.0.take() else {
            return Poll::Ready(result);
        };
        match result {
            Ok(response) => Poll::Ready(Ok(on_response(pending, response))),
            Err(error) => {
                pending.fail(error.code(), &error.to_string());
                Poll::Ready(Err(error))
            }
        }
    }
}

fn on_response(pending: Pending, mut response: Response<Body>) -> Response<Body> {
    let settings = pending.settings.clone();
    let latency = pending.started.elapsed();
    let status = response.status();
    let class = ErrorCode::from_upstream_status(status);
    let outcome = class.map_or("ok", ErrorCode::as_str);

    let rate_limit = (settings.rate_limit)(&mut response);
    let upstream_request_id = settings
        .upstream_request_id_header
        .as_ref()
        .and_then(|name| response.headers().get(name))
        .map(|v| String::from_utf8_lossy(v.as_bytes()));
    let upstream_request_id = upstream_request_id
        .as_deref()
        .map(|id| settings.redactor.text(id));

    let wants_body = settings.body_mode != BodyMode::None
        && (pending.sampled || status.is_client_error() || status.is_server_error());
    if !wants_body {
        // The common case: the line is complete at headers time, nothing is kept.
        let record = ResponsePart {
            status: status.as_u16(),
            latency_ms: millis(latency),
            ratelimit_remaining: rate_limit.remaining,
            ratelimit_reset: rate_limit.reset_secs,
            upstream_request_id: upstream_request_id.as_deref(),
            body: None,
        };
        pending.emit(Some(&record), None, outcome);
        return response;
    }
    let record = ResponseRecord {
        status: status.as_u16(),
        latency_ms: millis(latency),
        ratelimit_remaining: rate_limit.remaining,
        ratelimit_reset: rate_limit.reset_secs,
        upstream_request_id: upstream_request_id.map(Cow::into_owned),
        body: None,
    };
    tee_response_body(pending, response, record, outcome)
}

/// Wraps the body of a response whose body goes in the line (sampled, or an error): frames
/// pass through, a bounded copy is kept, and the line is written when the body ends.
///
/// Out of line: the common exchange (not sampled, 2xx) does not run it, and the code of the
/// common path stays short (see docs/performance.md, boundary logging).
#[inline(never)]
fn tee_response_body(
    pending: Pending,
    response: Response<Body>,
    record: ResponseRecord,
    outcome: &'static str,
) -> Response<Body> {
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (parts, body) = response.into_parts();
    let finisher = Finisher {
        pending,
        response: record,
        outcome,
    };
    let body = TeeBody::new(body, content_type, finisher);
    Response::from_parts(parts, http_body_util::BodyExt::boxed_unsync(body))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
