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

/// The [`RateLimitInfo`] a layer closer to the upstream (the boundary log) already read from a
/// response's headers, put in the response's extensions so that [`RateLimitHeaders`] does not
/// read them a second time. It is used only by a layer with the very same settings (the same
/// `Arc`) and the system clock; a response rebuilt on the way (a problem response) does not
/// carry it, and is read from its headers as before.
#[derive(Clone, Debug)]
pub struct AlreadyRead {
    settings: Arc<RateLimitSettings>,
    info: RateLimitInfo,
}

impl AlreadyRead {
    /// `info`, read with `settings`.
    pub fn new(settings: &Arc<RateLimitSettings>, info: RateLimitInfo) -> Self {
        Self {
            settings: settings.clone(),
            info,
        }
    }
}

/// Adds normalized rate-limit headers to responses. See the [module docs](self).
#[derive(Clone)]
pub struct RateLimitHeadersLayer {
    settings: Arc<RateLimitSettings>,
    /// A test clock; `None`: the system clock, and an [`AlreadyRead`] may be used (it was read
    /// at the system's "now").
    clock: Option<Clock>,
}

impl RateLimitHeadersLayer {
    /// A layer reading upstream headers per `settings`.
    pub fn new(settings: Arc<RateLimitSettings>) -> Self {
        Self {
            settings,
            clock: None,
        }
    }

    /// Replaces the clock (tests). The layer then always reads the headers itself.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
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
    clock: Option<Clock>,
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
        clock: Option<Clock>,
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
        let info = match resp.extensions_mut().remove::<AlreadyRead>() {
            Some(read) if this.clock.is_none() && Arc::ptr_eq(&read.settings, this.settings) => {
                read.info
            }
            _ => {
                let now = this
                    .clock
                    .as_ref()
                    .map_or_else(SystemTime::now, |clock| clock());
                this.settings.extract(resp.headers(), now)
            }
        };
        apply_info(&mut resp, info);
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
    apply_info(resp, info);
}

/// Writes the normalized headers for `info` into `resp` and stores `info` in its extensions.
fn apply_info<B>(resp: &mut Response<B>, info: RateLimitInfo) {
    if info.is_empty() {
        return;
    }
    let status = resp.status();
    apply_headers(resp.headers_mut(), status, &info);
    resp.extensions_mut().insert(info);
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;
    use tower::{ServiceExt, service_fn};

    use super::*;
    use crate::ratelimit::Limit;

    /// An upstream answering `x-ratelimit-remaining: 7` with `already` in the extensions.
    async fn through(layer: RateLimitHeadersLayer, already: Option<AlreadyRead>) -> HeaderMap {
        let upstream = service_fn(move |_req: Request<()>| {
            let mut resp = Response::new(());
            resp.headers_mut()
                .insert("x-ratelimit-remaining", "7".parse().unwrap());
            resp.headers_mut()
                .insert("x-ratelimit-limit", "10".parse().unwrap());
            if let Some(already) = already.clone() {
                resp.extensions_mut().insert(already);
            }
            async move { Ok::<_, std::convert::Infallible>(resp) }
        });
        let resp = layer
            .layer(upstream)
            .oneshot(Request::new(()))
            .await
            .unwrap();
        assert!(
            resp.extensions().get::<AlreadyRead>().is_none(),
            "taken out"
        );
        resp.headers().clone()
    }

    /// What another layer read (different from the headers, to tell the two apart).
    fn read_elsewhere() -> RateLimitInfo {
        RateLimitInfo {
            limits: vec![Limit::new("other", 100, 42)],
            retry_after: None,
        }
    }

    #[tokio::test]
    async fn what_a_layer_further_in_read_with_the_same_settings_is_used() {
        let settings = Arc::new(RateLimitSettings::default());
        let layer = RateLimitHeadersLayer::new(settings.clone());
        let handed = AlreadyRead::new(&settings, read_elsewhere());
        let headers = through(layer.clone(), Some(handed)).await;
        assert_eq!(headers["ratelimit-remaining"], "42");
        // Without it, the headers are read.
        assert_eq!(through(layer, None).await["ratelimit-remaining"], "7");
    }

    #[tokio::test]
    async fn other_settings_or_a_test_clock_read_the_headers_themselves() {
        let settings = Arc::new(RateLimitSettings::default());
        let other = Arc::new(RateLimitSettings::default());
        let handed = AlreadyRead::new(&other, read_elsewhere());
        let layer = RateLimitHeadersLayer::new(settings.clone());
        assert_eq!(
            through(layer, Some(handed)).await["ratelimit-remaining"],
            "7"
        );
        let clocked =
            RateLimitHeadersLayer::new(settings.clone()).with_clock(Arc::new(SystemTime::now));
        let handed = AlreadyRead::new(&settings, read_elsewhere());
        assert_eq!(
            through(clocked, Some(handed)).await["ratelimit-remaining"],
            "7"
        );
    }
}
