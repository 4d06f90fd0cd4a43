//! Local pacing: `rate_limit.local = "100/10s"`, per connector or per account.
//!
//! ```
//! use std::time::Duration;
//! use tidegate_upstream::pacing::{LocalPacingLayer, PacingScope, PacingSettings};
//! use tower::{Layer, ServiceExt, service_fn};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let layer = LocalPacingLayer::new(PacingSettings::new(1, Duration::from_secs(10), PacingScope::Connector).unwrap());
//! let upstream = service_fn(|_req: http::Request<tidegate_core::Body>| async {
//!     Ok::<_, tidegate_core::Error>(http::Response::new(tidegate_core::body::empty()))
//! });
//! let svc = layer.layer(upstream);
//! let first = svc.clone().oneshot(http::Request::new(tidegate_core::body::empty())).await.unwrap();
//! assert_eq!(first.status(), 200);
//! let second = svc.oneshot(http::Request::new(tidegate_core::body::empty())).await.unwrap();
//! assert_eq!(second.status(), 429);
//! assert_eq!(second.headers()["retry-after"], "10");
//! # });
//! ```
//!
//! A request over the local quota is answered at once with 429 `rate_limited`,
//! `"source": "gateway"` and a `Retry-After` from governor's wait time (rounded up), before the
//! upstream's quota is burnt. Place it inside retry (so every real attempt is paced) and inside
//! the breaker (the 429 it produces is not a failure anyway). Its responses carry the
//! [`GatewayGenerated`] marker so that the error normalization passes them through.
//!
//! Per-account pacing keys a governor limiter by the context's account id (requests without an
//! account share one key). Idle keys are pruned every 1024 checks, so the map holds only
//! accounts seen within about one period.

use std::{
    future::Future,
    num::NonZeroU32,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    middleware::NoOpMiddleware,
    state::keyed::HashMapStateStore,
};
use http::{Request, Response};
use pin_project_lite::pin_project;
use tidegate_core::{Body, ErrorCode, Problem, RequestContext};
use tower::{Layer, Service};

use crate::GatewayGenerated;

/// What local pacing counts per.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PacingScope {
    /// One budget for the whole connector.
    #[default]
    Connector,
    /// One budget per integrated account.
    Account,
}

impl std::str::FromStr for PacingScope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "connector" | "" => Ok(PacingScope::Connector),
            "account" => Ok(PacingScope::Account),
            other => Err(format!(
                "unknown local_scope {other:?} (expected connector or account)"
            )),
        }
    }
}

/// `N` requests per `per`, with bursts up to `N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacingSettings {
    quota: Quota,
    /// The scope.
    pub scope: PacingScope,
}

impl PacingSettings {
    /// `requests` per `per`; an error when either is zero.
    pub fn new(requests: u32, per: Duration, scope: PacingScope) -> Result<Self, String> {
        let n = NonZeroU32::new(requests).ok_or("local rate: the request count must be > 0")?;
        let quota = Quota::with_period(per / requests)
            .ok_or("local rate: the period must be > 0")?
            .allow_burst(n);
        Ok(Self { quota, scope })
    }
}

type Limiter<C> =
    RateLimiter<Arc<str>, HashMapStateStore<Arc<str>>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// The shared limiter state of one connector.
pub struct LocalPacer<C: Clock = DefaultClock> {
    limiter: Limiter<C>,
    scope: PacingScope,
    checks: AtomicU64,
}

impl LocalPacer<DefaultClock> {
    /// A pacer on the system's monotonic clock.
    pub fn new(settings: PacingSettings) -> Self {
        Self::with_clock(settings, DefaultClock::default())
    }
}

impl<C: Clock> LocalPacer<C> {
    /// A pacer on `clock` (tests use governor's `FakeRelativeClock`).
    pub fn with_clock(settings: PacingSettings, clock: C) -> Self {
        Self {
            limiter: RateLimiter::new(settings.quota, HashMapStateStore::default(), clock),
            scope: settings.scope,
            checks: AtomicU64::new(0),
        }
    }

    /// Takes one unit for `ctx`'s key; `Err(wait)` when the budget is spent.
    pub fn check(&self, ctx: Option<&RequestContext>) -> Result<(), Duration> {
        static SHARED: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();
        let key = match (self.scope, ctx.and_then(|c| c.account_id.as_ref())) {
            (PacingScope::Account, Some(account)) => account.clone(),
            _ => SHARED.get_or_init(|| Arc::from("")).clone(),
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&key)
            .map(|_| ())
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }

    /// The 429 answered when [`check`](Self::check) fails.
    pub fn rejection(wait: Duration, ctx: Option<&RequestContext>) -> Response<Body> {
        let mut problem = Problem::new(
            ErrorCode::RateLimited,
            "Local rate limit of this connector reached; retry after the indicated delay",
        )
        .with_retry_after(Some(wait.max(Duration::from_secs(1))));
        problem.title = "Rate limited by gateway".to_owned();
        problem.source = Some("gateway".to_owned());
        if let Some(ctx) = ctx {
            problem = problem.with_context(ctx);
        }
        let mut resp = problem.into_response();
        resp.extensions_mut().insert(GatewayGenerated);
        resp.extensions_mut().insert(ErrorCode::RateLimited);
        resp
    }
}

/// Applies a [`LocalPacer`]. See the [module docs](self).
pub struct LocalPacingLayer<C: Clock = DefaultClock> {
    pacer: Arc<LocalPacer<C>>,
}

impl<C: Clock> Clone for LocalPacingLayer<C> {
    fn clone(&self) -> Self {
        Self {
            pacer: self.pacer.clone(),
        }
    }
}

impl LocalPacingLayer<DefaultClock> {
    /// A layer with a fresh pacer.
    pub fn new(settings: PacingSettings) -> Self {
        Self {
            pacer: Arc::new(LocalPacer::new(settings)),
        }
    }
}

impl<C: Clock> LocalPacingLayer<C> {
    /// A layer sharing `pacer` (e.g. one per connector across stacks).
    pub fn from_pacer(pacer: Arc<LocalPacer<C>>) -> Self {
        Self { pacer }
    }
}

impl<S, C: Clock> Layer<S> for LocalPacingLayer<C> {
    type Service = LocalPacing<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        LocalPacing {
            inner,
            pacer: self.pacer.clone(),
        }
    }
}

/// The service of [`LocalPacingLayer`].
pub struct LocalPacing<S, C: Clock = DefaultClock> {
    inner: S,
    pacer: Arc<LocalPacer<C>>,
}

impl<S: Clone, C: Clock> Clone for LocalPacing<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            pacer: self.pacer.clone(),
        }
    }
}

impl<S, ReqB, C> Service<Request<ReqB>> for LocalPacing<S, C>
where
    S: Service<Request<ReqB>, Response = Response<Body>>,
    C: Clock,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let ctx = RequestContext::of(&req);
        match self.pacer.check(ctx) {
            Ok(()) => ResponseFuture::Forwarded {
                inner: self.inner.call(req),
            },
            Err(wait) => ResponseFuture::Rejected {
                response: Some(LocalPacer::<C>::rejection(wait, ctx)),
            },
        }
    }
}

pin_project! {
    /// The response future of [`LocalPacing`].
    #[project = Proj]
    pub enum ResponseFuture<F> {
        /// Within budget: the inner service's future.
        Forwarded { #[pin] inner: F },
        /// Over budget: the ready 429.
        Rejected { response: Option<Response<Body>> },
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Proj::Forwarded { inner } => inner.poll(cx),
            Proj::Rejected { response } => Poll::Ready(Ok(response
                .take()
                .expect("ResponseFuture polled after completion"))),
        }
    }
}
