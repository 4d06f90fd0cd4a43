use std::{
    collections::HashMap,
    sync::Arc,
    task::{Context, Poll},
};

use arc_swap::ArcSwap;
use tidegate_core::{Body, Error, ErrorCode, RequestContext};
use tokio::time::Instant;
use tower::Service;

use super::{Breaker, BreakerRegistry, BreakerScope, BreakerSettings, ResponseFuture};

/// The service of [`CircuitBreakerLayer`](super::CircuitBreakerLayer).
#[derive(Clone, Debug)]
pub struct CircuitBreaker<S> {
    inner: S,
    connector_breaker: &'static Breaker,
    per_account: Option<Arc<AccountBreakers>>,
}

/// Account-scoped breakers: a copy-on-write map read without a lock on every call; a miss
/// (first call of an account) goes to the registry and republishes the map.
#[derive(Debug)]
struct AccountBreakers {
    registry: BreakerRegistry,
    connector: Arc<str>,
    settings: Arc<BreakerSettings>,
    cache: ArcSwap<HashMap<Arc<str>, &'static Breaker>>,
}

impl AccountBreakers {
    fn get(&self, account: &Arc<str>) -> &'static Breaker {
        if let Some(breaker) = self.cache.load().get(account) {
            return breaker;
        }
        let breaker = self
            .registry
            .get_or_create(&self.connector, Some(account), &self.settings);
        self.cache.rcu(|map| {
            let mut map = HashMap::clone(map);
            map.insert(Arc::clone(account), breaker);
            map
        });
        breaker
    }
}

impl<S> CircuitBreaker<S> {
    /// Wraps `inner` with the breaker(s) of `connector` from `registry`.
    pub fn new(
        inner: S,
        registry: &BreakerRegistry,
        connector: Arc<str>,
        settings: Arc<BreakerSettings>,
    ) -> Self {
        let connector_breaker = registry.get_or_create(&connector, None, &settings);
        let per_account = (settings.scope == BreakerScope::Account).then(|| {
            Arc::new(AccountBreakers {
                registry: registry.clone(),
                connector,
                settings,
                cache: ArcSwap::from_pointee(HashMap::new()),
            })
        });
        Self {
            inner,
            connector_breaker,
            per_account,
        }
    }

    #[inline]
    fn breaker_for<B>(&self, req: &http::Request<B>) -> &'static Breaker {
        if let Some(accounts) = &self.per_account
            && let Some(account) = RequestContext::of(req).and_then(|c| c.account_id.as_ref())
        {
            return accounts.get(account);
        }
        self.connector_breaker
    }
}

impl<S> Service<http::Request<Body>> for CircuitBreaker<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Error>,
{
    type Response = http::Response<Body>;
    type Error = Error;
    type Future = ResponseFuture<S::Future>;

    /// Readiness is the inner service's: nothing is reserved here, so a readied-but-unused
    /// service leaks no probe.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let breaker = self.breaker_for(&req);
        self.admit(breaker, req)
    }
}

impl<S> CircuitBreaker<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Error>,
{
    #[inline]
    fn admit(
        &mut self,
        breaker: &'static Breaker,
        req: http::Request<Body>,
    ) -> ResponseFuture<S::Future> {
        match breaker.try_acquire() {
            Ok(permit) => {
                let started = breaker
                    .settings()
                    .slow_call_duration
                    .map(|_| Instant::now());
                ResponseFuture::admitted(self.inner.call(req), permit, started)
            }
            Err(retry_after) => ResponseFuture::rejected(
                Error::new(
                    ErrorCode::CircuitOpen,
                    format!(
                        "the circuit breaker for {} is open after repeated upstream failures",
                        breaker.key()
                    ),
                )
                .with_retry_after(retry_after),
            ),
        }
    }
}
