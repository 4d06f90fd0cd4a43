//! The rate-limit normalization layer: adds CONTRACT §5's headers to every upstream response.
//!
//! ```
//! use std::sync::Arc;
//! use tidegate_upstream::ratelimit::{LimitMapping, RateLimitHeadersLayer, RateLimitSettings, ResetUnit};
//! use tower::{Layer, ServiceExt, service_fn};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let settings = RateLimitSettings::with_mappings(vec![
//!     LimitMapping::new("default")
//!         .limit("x-ratelimit-limit")
//!         .remaining("x-ratelimit-remaining")
//!         .reset("x-ratelimit-reset", ResetUnit::Seconds),
//! ]);
//! let upstream = service_fn(|_req: http::Request<tidegate_core::Body>| async {
//!     Ok::<_, tidegate_core::Error>(
//!         http::Response::builder()
//!             .header("x-ratelimit-limit", "20")
//!             .header("x-ratelimit-remaining", "19")
//!             .header("x-ratelimit-reset", "2")
//!             .body(tidegate_core::body::empty())
//!             .unwrap(),
//!     )
//! });
//! let svc = RateLimitHeadersLayer::new(Arc::new(settings)).layer(upstream);
//! let resp = svc.oneshot(http::Request::new(tidegate_core::body::empty())).await.unwrap();
//! assert_eq!(resp.headers()["ratelimit-remaining"], "19");
//! assert_eq!(resp.headers()["ratelimit"], r#""default";r=19;t=2"#);
//! # });
//! ```
//!
//! Place it OUTSIDE the error-normalization layer, so that it sees the final status (a vendor
//! "429-equivalent" rewritten to 429 also gets its `Retry-After`), and outside retry and the
//! breaker. The normalized [`RateLimitInfo`] is also put into the response's extensions for the
//! boundary log (`ratelimit_remaining`, `ratelimit_reset`).

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::SystemTime,
};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::{RateLimitInfo, RateLimitSettings, apply_headers};

/// A source of "now" (injectable for tests; the parsers never read a clock themselves).
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

fn system_clock() -> Clock {
    Arc::new(SystemTime::now)
}

/// Adds normalized rate-limit headers to responses. See the [module docs](self).
#[derive(Clone)]
pub struct RateLimitHeadersLayer {
    settings: Arc<RateLimitSettings>,
    clock: Clock,
}

impl RateLimitHeadersLayer {
    /// A layer reading upstream headers per `settings`.
    pub fn new(settings: Arc<RateLimitSettings>) -> Self {
        Self {
            settings,
            clock: system_clock(),
        }
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }
}

impl<S> Layer<S> for RateLimitHeadersLayer {
    type Service = RateLimitHeaders<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitHeaders {
            inner,
            settings: self.settings.clone(),
            clock: self.clock.clone(),
        }
    }
}

/// The service of [`RateLimitHeadersLayer`].
#[derive(Clone)]
pub struct RateLimitHeaders<S> {
    inner: S,
    settings: Arc<RateLimitSettings>,
    clock: Clock,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for RateLimitHeaders<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        ResponseFuture {
            inner: self.inner.call(req),
            settings: self.settings.clone(),
            clock: self.clock.clone(),
        }
    }
}

pin_project! {
    /// The response future of [`RateLimitHeaders`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        settings: Arc<RateLimitSettings>,
        clock: Clock,
    }
}

impl<F, ResB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
{
    type Output = Result<Response<ResB>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut resp = std::task::ready!(this.inner.poll(cx))?;
        normalize_response_headers(&mut resp, this.settings, (this.clock)());
        Poll::Ready(Ok(resp))
    }
}

/// Extracts, normalizes and writes the rate-limit headers of `resp` in place, and stores the
/// [`RateLimitInfo`] in its extensions. Exposed for callers outside a tower stack and benches.
pub fn normalize_response_headers<B>(
    resp: &mut Response<B>,
    settings: &RateLimitSettings,
    now: SystemTime,
) {
    let info: RateLimitInfo = settings.extract(resp.headers(), now);
    if info.is_empty() {
        return;
    }
    let status = resp.status();
    apply_headers(resp.headers_mut(), status, &info);
    resp.extensions_mut().insert(info);
}
