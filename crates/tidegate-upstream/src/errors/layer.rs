//! The error-normalization layer.
//!
//! ```
//! use std::sync::Arc;
//! use tidegate_upstream::errors::{ErrorExprs, ErrorNormalizationLayer, ErrorSettings};
//! use tower::{Layer, ServiceExt, service_fn};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let settings = ErrorSettings::compile(&ErrorExprs {
//!     code: Some("error.code"),
//!     message: Some("error.message"),
//!     ..Default::default()
//! })
//! .unwrap();
//! let upstream = service_fn(|_req: http::Request<tidegate_core::Body>| async {
//!     Ok::<_, tidegate_core::Error>(
//!         http::Response::builder()
//!             .status(404)
//!             .header("content-type", "application/json")
//!             .body(tidegate_core::body::full(r#"{"error":{"code":"resource_missing","message":"No such customer"}}"#))
//!             .unwrap(),
//!     )
//! });
//! let svc = ErrorNormalizationLayer::new(Arc::new(settings)).layer(upstream);
//! let resp = svc.oneshot(http::Request::new(tidegate_core::body::empty())).await.unwrap();
//! assert_eq!(resp.status(), 404);
//! assert_eq!(resp.headers()["content-type"], "application/problem+json");
//! # });
//! ```
//!
//! Place it OUTSIDE retry and the circuit breaker (see the crate docs): it is the layer that
//! turns a vendor's 429-equivalent into a 429, so the layers that must never count a 429 would
//! not recognise the equivalent if they sat outside it. They see the raw upstream response;
//! the normalized problem is built once, after the last attempt.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::{HeaderMap, Request, Response, header};
use pin_project_lite::pin_project;
use tidegate_core::{Body, Problem, RequestContext};
use tower::{Layer, Service};

use super::{ErrorSettings, normalize, read_capped};
use crate::GatewayGenerated;

/// Turns upstream error responses into problem+json. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct ErrorNormalizationLayer {
    settings: Arc<ErrorSettings>,
}

impl ErrorNormalizationLayer {
    /// A layer normalizing per `settings`.
    pub fn new(settings: Arc<ErrorSettings>) -> Self {
        Self { settings }
    }

    /// Redacts problems with `redactor` (the configured `[logging]` one) instead of the
    /// settings' own; `None` keeps the settings' redactor.
    pub fn with_redactor(mut self, redactor: Option<tidegate_observe::redact::Redactor>) -> Self {
        if let Some(redactor) = redactor {
            Arc::make_mut(&mut self.settings).redactor = redactor;
        }
        self
    }
}

impl<S> Layer<S> for ErrorNormalizationLayer {
    type Service = ErrorNormalization<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ErrorNormalization {
            inner,
            settings: self.settings.clone(),
        }
    }
}

/// The service of [`ErrorNormalizationLayer`].
#[derive(Clone, Debug)]
pub struct ErrorNormalization<S> {
    inner: S,
    settings: Arc<ErrorSettings>,
}

impl<S, ReqB, E> Service<Request<ReqB>> for ErrorNormalization<S>
where
    S: Service<Request<ReqB>, Response = Response<Body>, Error = E>,
{
    type Response = Response<Body>;
    type Error = E;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let ctx = RequestContext::of(&req).cloned();
        ResponseFuture::Waiting {
            inner: self.inner.call(req),
            settings: self.settings.clone(),
            ctx,
        }
    }
}

type Normalizing = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

pin_project! {
    /// The response future of [`ErrorNormalization`].
    #[project = Proj]
    pub enum ResponseFuture<F> {
        /// Waiting for the upstream's response head.
        Waiting {
            #[pin]
            inner: F,
            settings: Arc<ErrorSettings>,
            ctx: Option<RequestContext>,
        },
        /// Reading (at most 64 KiB of) the body and building the problem.
        Normalizing {
            fut: Normalizing,
        },
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project() {
                Proj::Waiting {
                    inner,
                    settings,
                    ctx,
                } => {
                    let resp = std::task::ready!(inner.poll(cx))?;
                    if !needs_normalization(&resp, settings) {
                        return Poll::Ready(Ok(resp));
                    }
                    let fut = Box::pin(normalize_response(resp, settings.clone(), ctx.take()));
                    self.set(ResponseFuture::Normalizing { fut });
                }
                Proj::Normalizing { fut } => return fut.as_mut().poll(cx).map(Ok),
            }
        }
    }
}

/// The fast path: success responses stream through untouched unless `errors.when` may flag
/// them (JSON-ish, not known to exceed the cap).
fn needs_normalization(resp: &Response<Body>, settings: &ErrorSettings) -> bool {
    if resp.extensions().get::<GatewayGenerated>().is_some() {
        return false;
    }
    if resp.status().as_u16() >= 400 {
        return true;
    }
    if !settings.inspects_success() {
        return false;
    }
    let headers = resp.headers();
    let jsonish = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.to_ascii_lowercase().contains("json"));
    let too_big = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|len| len > settings.max_body as u64);
    jsonish && !too_big && !is_content_encoded(headers)
}

fn is_content_encoded(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"))
}

async fn normalize_response(
    resp: Response<Body>,
    settings: Arc<ErrorSettings>,
    ctx: Option<RequestContext>,
) -> Response<Body> {
    let (parts, body) = resp.into_parts();
    let max = settings.max_body;
    let read = read_capped(body, max, settings.body_read_timeout).await;
    if parts.status.as_u16() < 400 {
        // Only a body read completely within the cap can be a `when` error; anything else goes
        // on byte for byte.
        if !read.complete(max) {
            return Response::from_parts(parts, read.into_body());
        }
        let head = read.head(max);
        return match normalize(&settings, parts.status, &parts.headers, &head, ctx.as_ref()) {
            Some(problem) => problem_response(problem, &parts.headers),
            None => Response::from_parts(parts, read.into_body()),
        };
    }
    // A compressed error body is not decoded; the problem is built from the status alone.
    let head = if is_content_encoded(&parts.headers) {
        bytes::Bytes::new()
    } else {
        read.head(max)
    };
    // The unread rest (beyond the cap) is dropped here, never buffered.
    drop(read);
    match normalize(&settings, parts.status, &parts.headers, &head, ctx.as_ref()) {
        Some(problem) => problem_response(problem, &parts.headers),
        None => Response::from_parts(parts, tidegate_core::body::empty()),
    }
}

/// Upstream headers that describe the upstream's body (or the connection) and so must not be
/// copied onto the problem response.
fn describes_upstream_body(name: &header::HeaderName) -> bool {
    let n = name.as_str();
    n.starts_with("content-")
        || n.starts_with("proxy-")
        || matches!(
            n,
            "etag"
                | "last-modified"
                | "accept-ranges"
                | "transfer-encoding"
                | "connection"
                | "keep-alive"
                | "upgrade"
                | "te"
                | "trailer"
                | "x-request-id"
                | "digest"
                | "expires"
                | "vary"
        )
}

/// The problem as a response, carrying the upstream's other headers (rate-limit headers,
/// `Retry-After`, vendor request ids) so that the rate-limit layer and callers still see them.
/// The problem's class is put into the response extensions (for the boundary log's outcome).
pub fn problem_response(problem: Problem, upstream_headers: &HeaderMap) -> Response<Body> {
    let code = problem.code;
    let mut resp = problem.into_response();
    for (name, value) in upstream_headers {
        if !describes_upstream_body(name) {
            resp.headers_mut().append(name.clone(), value.clone());
        }
    }
    resp.extensions_mut().insert(code);
    resp
}
