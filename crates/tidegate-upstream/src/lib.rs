//! Upstream semantics for tidegate connector stacks.
//!
//! What an upstream *means* by its responses, normalized so that callers see one vocabulary
//! whatever the vendor:
//!
//! - [`ratelimit`]: every rate-limit wire form (IETF drafts -00…-10, vendor headers,
//!   `Retry-After`) parsed into one [`ratelimit::RateLimitInfo`] and re-emitted as CONTRACT §5's
//!   `RateLimit-*` headers — never more permissive than the upstream said.
//! - [`errors`]: upstream error responses (and 2xx errors such as Slack's `ok: false`) turned into
//!   the problem+json of CONTRACT §4, with vendor codes and messages extracted by per-connector
//!   JSONata expressions ([`expr`]), and vendor 429-equivalents reclassified as `rate_limited`.
//! - [`pacing`]: optional local pacing (`rate_limit.local = "100/10s"`) with `governor`, which
//!   rejects with 429 before the upstream quota is burnt.
//!
//! This is a crate of its own (rather than modules of `tidegate-layers`) for build isolation
//! while several people work in parallel, and to keep `jsonata-core` out of the light layers
//! crate. Its settings types are config-agnostic; the config crate converts into them.
//!
//! ## Where the layers go in a connector stack (outermost first)
//!
//! ```text
//! request context → boundary log → RateLimitHeadersLayer → ErrorNormalizationLayer
//!   → timeout → retry → breaker → LocalPacingLayer → idempotency → auth → client
//! ```
//!
//! Error normalization sits OUTSIDE retry and the breaker: a vendor 429-equivalent (Salesforce
//! 403 `REQUEST_LIMIT_EXCEEDED`, Shopify 430, Slack 200 `ratelimited`) is only recognised here,
//! so retry/breaker must see the raw upstream response, which they already never count as a
//! failure when it is a 429 or a 4xx. Rate-limit normalization sits outside error normalization
//! so it sees the final status. Local pacing sits inside retry, so every real attempt is paced.
#![forbid(unsafe_code)]

pub mod errors;
pub mod expr;
pub mod pacing;
pub mod ratelimit;
pub mod settings;

pub use errors::{ErrorNormalizationLayer, ErrorSettings};
pub use expr::{Compiled, ExpressionEngine, JsonataEngine, compile};
pub use pacing::{LocalPacingLayer, PacingScope, PacingSettings};
pub use ratelimit::{Limit, RateLimitHeadersLayer, RateLimitInfo, RateLimitSettings};

/// Response extension marking a response the gateway produced itself (e.g. a local-pacing 429),
/// so that the error normalization does not treat it as an upstream error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GatewayGenerated;
