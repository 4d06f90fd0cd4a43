//! `tracing` spans for requests and upstream attempts.
//!
//! Span fields are a closed set: request id, connector, environment, attempt. Never a header,
//! a URL, an account credential or a body, so any subscriber (stdout, OTLP) is safe to attach.
//!
//! ```
//! let ctx = tidegate_core::RequestContext::new("hubspot");
//! let span = tidegate_observe::trace::request_span(&ctx);
//! let _entered = span.enter();
//! ```

use tidegate_core::RequestContext;
use tracing::Span;

/// The span of one caller request (created by the gateway or an in-process client).
pub fn request_span(ctx: &RequestContext) -> Span {
    tracing::info_span!(
        "tidegate.request",
        request_id = %ctx.request_id,
        connector = %ctx.connector,
        environment = ctx.environment.as_deref().unwrap_or(""),
    )
}

/// The span of one upstream attempt (created by the boundary-log layer).
pub fn attempt_span(request_id: &str, connector: &str, attempt: u32) -> Span {
    tracing::info_span!(
        "tidegate.upstream_attempt",
        request_id = %request_id,
        connector = %connector,
        attempt = attempt,
    )
}
