//! A per-upstream circuit breaker with a lock-free closed path.
//!
//! ```
//! use std::time::Duration;
//! use tidegate_core::{Body, Error, ErrorCode, body};
//! use tidegate_layers::breaker::{BreakerRegistry, BreakerSettings, CircuitBreakerLayer};
//! use tower::{Layer, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let registry = BreakerRegistry::new();
//! let settings = BreakerSettings {
//!     consecutive_failures: Some(2),
//!     open_for: Duration::from_secs(30),
//!     ..BreakerSettings::default()
//! };
//! let upstream = service_fn(|_req: http::Request<Body>| async {
//!     Ok::<_, Error>(http::Response::builder().status(503).body(body::empty()).unwrap())
//! });
//! let svc = CircuitBreakerLayer::new(&registry, "hubspot", settings).layer(upstream);
//! for _ in 0..2 {
//!     let response = svc.clone().oneshot(http::Request::new(body::empty())).await.unwrap();
//!     assert_eq!(response.status(), 503); // upstream statuses pass through...
//! }
//! // ...and two in a row opened the breaker: the upstream is not called while it is open.
//! let err = svc.oneshot(http::Request::new(body::empty())).await.unwrap_err();
//! assert_eq!(err.code(), ErrorCode::CircuitOpen);
//! assert!(err.retry_after().is_some());
//! assert_eq!(registry.snapshot()[0].state.as_str(), "open");
//! # }
//! ```
//!
//! **Keys.** One breaker per upstream: the key is the connector, or connector/account with
//! [`BreakerScope::Account`] (the account comes from the request's
//! [`RequestContext`](tidegate_core::RequestContext)). A [`BreakerRegistry`] holds every
//! breaker (created on first use) for `GET /admin/breakers` and the metrics.
//!
//! **Opening.** On `consecutive_failures` in a row, and/or when the `failure_rate` (or
//! `slow_call_rate`) over a sliding window — the last N calls, or the calls of the last period
//! — reaches its threshold, once the window holds at least `min_calls`. A failure is a
//! connect error, reset or timeout (`upstream_unavailable`, `upstream_timeout`) or a
//! `failure_statuses` status (default: 5xx except 501). A 429 is never a failure (the
//! upstream is healthy and telling the caller to slow down; the caller owns that backoff),
//! nor is any other 4xx (the request was wrong, not the upstream).
//!
//! **Open.** For `open_for`, doubled on each consecutive re-opening up to `max_open_for`, with
//! ±10% jitter so that many gateways do not probe in lock-step. Calls fail at once with
//! `circuit_open` and a `retry_after` of the time left; the inner service receives nothing.
//!
//! **Half-open.** Exactly `half_open_probes` calls are admitted; all must succeed to close,
//! one failure re-opens. A probe is a reservation held by a guard: if the caller drops the
//! future (cancellation, an outer timeout) the guard's `Drop` hands the probe back, so a
//! cancelled probe can never wedge the breaker half-open. Nothing is reserved in
//! `poll_ready`, so a service that is readied but never called leaks nothing.
//!
//! **Lock-free.** State, generation and probe counts live in one packed `AtomicU64`; every
//! transition is a compare-and-swap on it, and outcomes of calls admitted under an older
//! generation are ignored. The closed success path is two atomic loads (plus one relaxed load
//! of the failure counter); rate windows are rings of atomic buckets.

mod future;
mod layer;
mod machine;
mod registry;
mod service;
#[cfg(test)]
mod tests;
mod window;

use std::time::Duration;

pub use future::ResponseFuture;
pub use layer::CircuitBreakerLayer;
pub use machine::{Breaker, BreakerState, Permit};
pub use registry::{BreakerRegistry, BreakerSnapshot};
pub use service::CircuitBreaker;

/// Whether one breaker guards the whole upstream or each integrated account separately.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BreakerScope {
    /// One breaker per connector (the default).
    #[default]
    Connector,
    /// One breaker per connector and account (for upstreams with per-tenant hosts).
    Account,
}

/// The sliding window a failure rate is computed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureWindow {
    /// The last N calls.
    Calls(u32),
    /// The calls of the last period (kept in 10 buckets).
    Time(Duration),
}

/// The statuses that count as failures. Only 5xx can be listed: a 4xx (429 above all) is the
/// upstream answering correctly, so it is refused here rather than silently accepted.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FailureStatuses([u64; 2]);

impl FailureStatuses {
    /// 5xx except 501 (Not Implemented is a permanent answer about the request).
    pub fn default_5xx() -> Self {
        let mut set = Self([0; 2]);
        for status in 500..=599 {
            if status != 501 {
                set.insert(status);
            }
        }
        set
    }

    /// Exactly these statuses. Errors on anything outside 500..=599.
    pub fn from_statuses(statuses: &[u16]) -> Result<Self, String> {
        let mut set = Self([0; 2]);
        for &status in statuses {
            if !(500..=599).contains(&status) {
                return Err(format!(
                    "breaker failure_statuses: {status} is not a 5xx; 4xx answers (429 above \
                     all) never count as upstream failures"
                ));
            }
            set.insert(status);
        }
        Ok(set)
    }

    fn insert(&mut self, status: u16) {
        let bit = (status - 500) as usize;
        self.0[bit / 64] |= 1 << (bit % 64);
    }

    /// Whether `status` counts as a failure.
    #[inline]
    pub fn contains(&self, status: http::StatusCode) -> bool {
        let status = status.as_u16();
        if !(500..=599).contains(&status) {
            return false;
        }
        let bit = (status - 500) as usize;
        self.0[bit / 64] & (1 << (bit % 64)) != 0
    }
}

impl Default for FailureStatuses {
    fn default() -> Self {
        Self::default_5xx()
    }
}

impl std::fmt::Debug for FailureStatuses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries((500..=599).filter(|s| self.contains(http::StatusCode::from_u16(*s).unwrap())))
            .finish()
    }
}

/// Settings of one breaker. `Default` matches the config defaults, except that a breaker with
/// neither `consecutive_failures` nor `failure_rate` opens after 5 consecutive failures (a
/// breaker that can never open would be a silent no-op).
#[derive(Clone, Debug, PartialEq)]
pub struct BreakerSettings {
    /// Per connector or per account.
    pub scope: BreakerScope,
    /// Open after this many failures in a row.
    pub consecutive_failures: Option<u32>,
    /// Open when failures / calls over the window reaches this fraction (0..=1).
    pub failure_rate: Option<f64>,
    /// The window of the rate modes.
    pub window: FailureWindow,
    /// The rate modes judge nothing before the window holds this many calls.
    pub min_calls: u32,
    /// A call slower than this is a slow call (for `slow_call_rate`).
    pub slow_call_duration: Option<Duration>,
    /// Open when slow calls / calls over the window reaches this fraction (0..=1).
    pub slow_call_rate: Option<f64>,
    /// How long the breaker stays open before admitting probes.
    pub open_for: Duration,
    /// Upper bound of `open_for` as it doubles on repeated openings (`None`: no growth).
    pub max_open_for: Option<Duration>,
    /// Probes admitted while half-open; all must succeed to close.
    pub half_open_probes: u32,
    /// Statuses that count as failures.
    pub failure_statuses: FailureStatuses,
    /// Relative jitter applied to each open period (0.1 = ±10%).
    pub open_jitter: f64,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            scope: BreakerScope::Connector,
            consecutive_failures: Some(5),
            failure_rate: None,
            window: FailureWindow::Calls(100),
            min_calls: 20,
            slow_call_duration: None,
            slow_call_rate: None,
            open_for: Duration::from_secs(30),
            max_open_for: None,
            half_open_probes: 1,
            failure_statuses: FailureStatuses::default_5xx(),
            open_jitter: 0.1,
        }
    }
}

impl BreakerSettings {
    /// Whether any rate mode (failure or slow-call rate) needs the sliding window.
    fn uses_window(&self) -> bool {
        self.failure_rate.is_some() || self.slow_call_rate.is_some()
    }
}

/// How one call went, as the breaker sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The upstream answered (2xx-4xx other than 429).
    Success,
    /// The upstream failed (5xx in `failure_statuses`, connect error, reset, timeout).
    Failure,
    /// Says nothing about the upstream's health (429, a local rejection, cancellation).
    Ignored,
}

impl Outcome {
    /// Classifies a call's result.
    pub fn of<B>(
        result: &Result<http::Response<B>, tidegate_core::Error>,
        statuses: &FailureStatuses,
    ) -> Outcome {
        use tidegate_core::ErrorCode;
        match result {
            Ok(response) if statuses.contains(response.status()) => Outcome::Failure,
            Ok(response) if response.status() == http::StatusCode::TOO_MANY_REQUESTS => {
                Outcome::Ignored
            }
            Ok(_) => Outcome::Success,
            Err(e) => match e.code() {
                ErrorCode::UpstreamTimeout
                | ErrorCode::UpstreamUnavailable
                | ErrorCode::UpstreamServerError => Outcome::Failure,
                _ => Outcome::Ignored,
            },
        }
    }
}
