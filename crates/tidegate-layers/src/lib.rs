//! tidegate's tower layers. This crate holds the resilience layers of a connector stack, one
//! module per layer, each a `Layer` + `Service` (+ `ResponseFuture`) in the shape of tower-http:
//!
//! - [`timeout`]: a total deadline per call (published to inner layers as a [`Deadline`]), a
//!   per-attempt timeout, and an idle timeout that cuts a stalled streaming response body;
//! - [`breaker`]: a per-upstream circuit breaker with a lock-free closed path, and the
//!   [`BreakerRegistry`](breaker::BreakerRegistry) that `/admin/breakers` and `/metrics` read;
//! - [`retry`]: budgeted, jittered retries of safe failures only (never a 429, never a
//!   non-idempotent request without an idempotency key), bounded by the deadline;
//! - [`idempotency`]: injects or forwards the provider's idempotency key on writes;
//! - [`bulkhead`]: a per-connector concurrency limit that sheds load instead of queueing.
//!
//! Every layer is config-agnostic: it takes a plain settings struct whose `Default` matches the
//! `tidegate-config` defaults, so this crate does not depend on the config schema. The
//! recommended order (outermost first) and its reasoning are in `docs/resilience.md`:
//!
//! ```text
//! bulkhead → timeout (total, Deadline) → idempotency key → retry → circuit breaker
//!   → [credential injection] → attempt timeout → HTTP client
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod breaker;
pub mod bulkhead;
pub mod idempotency;
pub mod retry;
pub mod timeout;

pub use idempotency::IdempotencyKey;
pub use retry::Attempt;
pub use timeout::Deadline;

#[cfg(test)]
mod test_support;
