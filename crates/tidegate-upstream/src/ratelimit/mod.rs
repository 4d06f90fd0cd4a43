//! Rate-limit semantics: parse whatever an upstream says about its quotas, normalize it into
//! [`RateLimitInfo`], and emit it as the IETF headers of CONTRACT §5.
//!
//! - [`parse`]: pure parsers, one per wire form (IETF drafts, vendor headers, `Retry-After`).
//!   They take the header values and a `now` and never read a clock, so they are deterministic,
//!   property-tested and fuzzed.
//! - [`mapping`]: the per-connector description of a vendor's headers ([`RateLimitSettings`]),
//!   and [`RateLimitSettings::extract`], which turns a response's headers into [`RateLimitInfo`].
//! - [`emit`]: the selection of the most restrictive limit and the header writers.
//! - [`layer`]: the tower layer that applies all of this to every upstream response.
//!
//! The one rule everything here follows: **never make a limit look more permissive than the
//! upstream said** (draft-ietf-httpapi-ratelimit-headers-10 §"Intermediaries"). Remaining counts
//! are never rounded up, resets never rounded down (sub-second resets become the next whole
//! second), and a limit whose reset is unknown is reported with its window as an upper bound.

pub mod emit;
pub mod layer;
pub mod mapping;
pub mod parse;

pub use emit::{apply_headers, most_restrictive};
pub use layer::{AlreadyRead, RateLimitHeaders, RateLimitHeadersLayer};
pub use mapping::{LimitMapping, RateLimitSettings, ResetUnit, ValueFormat};

/// The longest delay (seconds) tidegate passes on, for `Retry-After` and resets: 24 hours.
///
/// Upstreams occasionally send absurd values (an epoch where seconds were meant, a year-long
/// `Retry-After`); the RateLimit draft's security considerations ask recipients to bound them.
/// This clamp is the one place a value may become *shorter* than the upstream's: a client told
/// to wait 24 h is as stopped as one told to wait a year, and is not stuck forever by a bug.
pub const MAX_DELAY_SECS: u64 = 86_400;

/// One quota an upstream reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limit {
    /// The policy name (`"default"` when the upstream gave none). Emitted as an sf-string.
    pub name: String,
    /// The quota in requests per window. When the upstream reported only what remains, this is
    /// the remaining count (a lower bound, so still never more permissive).
    pub quota: u64,
    /// Units left in the current window; never more than the upstream said.
    pub remaining: u64,
    /// Seconds until more quota is available (delta, rounded up), when known.
    pub reset_secs: Option<u64>,
    /// The window length in seconds, when known.
    pub window_secs: Option<u64>,
}

impl Limit {
    /// A limit named `name` with `remaining` of `quota` left.
    pub fn new(name: impl Into<String>, quota: u64, remaining: u64) -> Self {
        Self {
            name: name.into(),
            quota,
            remaining,
            reset_secs: None,
            window_secs: None,
        }
    }

    /// Sets the reset (seconds from now).
    pub fn with_reset(mut self, reset_secs: Option<u64>) -> Self {
        self.reset_secs = reset_secs.map(|r| r.min(MAX_DELAY_SECS));
        self
    }

    /// Sets the window length (seconds).
    pub fn with_window(mut self, window_secs: Option<u64>) -> Self {
        self.window_secs = window_secs.filter(|w| *w > 0);
        self
    }

    /// The reset to announce: the upstream's, else the window as an upper bound (a window-based
    /// limit is replenished at the latest one window from now).
    pub fn effective_reset(&self) -> Option<u64> {
        self.reset_secs
            .or(self.window_secs.map(|w| w.min(MAX_DELAY_SECS)))
    }
}

/// Everything an upstream response said about rate limits, normalized.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateLimitInfo {
    /// Every limit reported, in the order found (vendor mapping first, then standard forms).
    pub limits: Vec<Limit>,
    /// The upstream's `Retry-After`, as delta-seconds (rounded up, clamped to [`MAX_DELAY_SECS`]).
    pub retry_after: Option<u64>,
}

impl RateLimitInfo {
    /// Whether the upstream said anything at all.
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty() && self.retry_after.is_none()
    }
}

/// Whether a raw upstream response is the upstream throttling the caller, judged from its
/// status and headers alone (no body): a 429, or a 503 carrying `Retry-After` (Microsoft Graph
/// and others throttle with 503 + Retry-After).
///
/// For layers that sit INSIDE error normalization (retry, circuit breaker) and must not count
/// or retry throttling: body-level vendor equivalents (Salesforce 403 `REQUEST_LIMIT_EXCEEDED`,
/// Slack 200 `ratelimited`, …) are 2xx/4xx, which those layers never treat as failures anyway;
/// this covers the 5xx case they would otherwise count.
pub fn is_throttling(status: http::StatusCode, headers: &http::HeaderMap) -> bool {
    status == http::StatusCode::TOO_MANY_REQUESTS
        || (status == http::StatusCode::SERVICE_UNAVAILABLE
            && headers.contains_key(http::header::RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_is_429_or_503_with_retry_after() {
        let mut h = http::HeaderMap::new();
        assert!(is_throttling(http::StatusCode::TOO_MANY_REQUESTS, &h));
        assert!(!is_throttling(http::StatusCode::SERVICE_UNAVAILABLE, &h));
        h.insert("retry-after", http::HeaderValue::from_static("5"));
        assert!(is_throttling(http::StatusCode::SERVICE_UNAVAILABLE, &h));
        assert!(!is_throttling(http::StatusCode::BAD_GATEWAY, &h));
    }
}
