//! Budgeted retries of safe failures, bounded by the call's deadline.
//!
//! ```
//! use std::sync::{Arc, atomic::{AtomicUsize, Ordering}};
//! use tidegate_core::{Body, Error, body};
//! use tidegate_layers::retry::{Attempt, RetryLayer, RetrySettings};
//! use tower::{Layer, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let calls = Arc::new(AtomicUsize::new(0));
//! let seen = calls.clone();
//! let flaky = service_fn(move |req: http::Request<Body>| {
//!     let n = seen.fetch_add(1, Ordering::SeqCst);
//!     assert_eq!(req.extensions().get::<Attempt>(), Some(&Attempt(n as u32 + 1)));
//!     let status = if n == 0 { 503 } else { 200 };
//!     async move { Ok::<_, Error>(http::Response::builder().status(status).body(body::empty()).unwrap()) }
//! });
//! let svc = RetryLayer::new(RetrySettings::default()).layer(flaky);
//! // A GET is idempotent: the 503 is retried after a jittered backoff.
//! let response = svc.oneshot(http::Request::get("/contacts").body(body::empty()).unwrap()).await.unwrap();
//! assert_eq!(response.status(), 200);
//! assert_eq!(calls.load(Ordering::SeqCst), 2);
//! # }
//! ```
//!
//! **What is retried.** Only the failures listed in `on` — connect errors and resets (both
//! arrive as `upstream_unavailable`), optionally attempt timeouts, and the statuses 502, 503
//! and 504 by default — and only when replaying cannot do harm: the method is idempotent
//! (GET, HEAD, PUT, DELETE, OPTIONS) or the request carries an [`IdempotencyKey`] (set by the
//! idempotency layer, which sits outside this one so every attempt reuses the same key). A
//! 429 is never retried: the upstream is asking the *caller* to slow down, and the caller owns
//! that backoff; `on` refuses it. `circuit_open` and `overloaded` are never retried either (the
//! breaker sits inside retry, so an opening breaker ends the retries at once).
//!
//! **When.** Up to `max_attempts` attempts in total, after a jittered exponential backoff
//! (`backoff_base` doubling up to `backoff_max`; an upstream's `Retry-After` on a 503 is
//! honoured when longer), never past the call's [`Deadline`](crate::Deadline): a retry whose
//! backoff would end after it is not taken and the last result is returned.
//!
//! **How many.** A retry budget ([`tower::retry::budget::TpsBudget`]) allows retries of at most
//! `budget_percent` of the recent calls (plus a small floor per second), so a sick upstream
//! sees at most that much extra load instead of a retry storm.
//!
//! **Bodies.** Replaying a request needs its body: bodies up to `max_replay_body` (known from
//! `Content-Length`, or found by a bounded read) are buffered; a larger body is streamed once
//! and the request is not retried. Every attempt carries an [`Attempt`] extension for the
//! boundary log.
//!
//! [`IdempotencyKey`]: crate::IdempotencyKey

mod buffer;
mod future;
mod layer;
mod service;
#[cfg(test)]
mod tests;

use std::time::Duration;

use tidegate_core::ErrorCode;

pub use future::ResponseFuture;
pub use layer::RetryLayer;
pub use service::Retry;

/// The attempt number (1 for the first) of a request, in its extensions. Set on every attempt
/// of a replayable request; a request that is sent once carries none, which means attempt 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Attempt(pub u32);

/// What retry reacts to. Build it from the config's `on` list with [`RetryOn::parse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryOn {
    /// Retry `upstream_unavailable` (connect errors and resets).
    pub unavailable: bool,
    /// Retry `upstream_timeout` of one attempt.
    pub timeout: bool,
    /// Retry these statuses (never 429).
    pub statuses: Vec<u16>,
}

impl RetryOn {
    /// Parses `connect`, `reset`, `timeout` and statuses (`"502"`). 429 and other 4xx are
    /// refused with an explanation.
    pub fn parse<I, T>(items: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        let mut on = RetryOn {
            unavailable: false,
            timeout: false,
            statuses: Vec::new(),
        };
        for item in items {
            match item.as_ref() {
                "connect" | "reset" => on.unavailable = true,
                "timeout" => on.timeout = true,
                other => match other.parse::<u16>() {
                    Ok(429) => {
                        return Err("retry on: 429 is never retried by the gateway; the caller \
                                    owns rate-limit backoff"
                            .to_owned());
                    }
                    Ok(status @ 500..=599) => on.statuses.push(status),
                    Ok(status) => {
                        return Err(format!(
                            "retry on: {status} is not retryable (only 5xx statuses may be listed)"
                        ));
                    }
                    Err(_) => {
                        return Err(format!(
                            "retry on: unknown item {other:?} (expected connect, reset, timeout \
                             or a 5xx status)"
                        ));
                    }
                },
            }
        }
        Ok(on)
    }

    #[inline]
    fn status(&self, status: http::StatusCode) -> bool {
        self.statuses.contains(&status.as_u16())
    }

    #[inline]
    fn error(&self, code: ErrorCode) -> bool {
        match code {
            ErrorCode::UpstreamUnavailable => self.unavailable,
            ErrorCode::UpstreamTimeout => self.timeout,
            _ => false,
        }
    }
}

impl Default for RetryOn {
    fn default() -> Self {
        Self::parse(["connect", "reset", "502", "503", "504"]).expect("valid defaults")
    }
}

/// Settings of [`RetryLayer`]. `Default` matches the config defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct RetrySettings {
    /// Attempts in total, the first included (1 disables retries).
    pub max_attempts: u32,
    /// What is retried.
    pub on: RetryOn,
    /// Retries may add at most this percentage on top of first attempts.
    pub budget_percent: f64,
    /// Retries always allowed per second regardless of traffic (the budget's floor).
    pub budget_min_per_sec: u32,
    /// First backoff.
    pub backoff_base: Duration,
    /// Longest backoff.
    pub backoff_max: Duration,
    /// Request bodies up to this size are buffered for replay; larger ones are sent once.
    pub max_replay_body: usize,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            on: RetryOn::default(),
            budget_percent: 20.0,
            budget_min_per_sec: 10,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            max_replay_body: 64 * 1024,
        }
    }
}

/// Whether replaying `req` is harmless: an idempotent method or an idempotency key.
pub fn is_replay_safe<B>(req: &http::Request<B>) -> bool {
    use http::Method;
    matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
    ) || req.extensions().get::<crate::IdempotencyKey>().is_some()
}
