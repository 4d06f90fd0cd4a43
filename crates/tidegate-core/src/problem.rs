//! RFC 9457 problem documents, in the shape of CONTRACT §4.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Body, Error, ErrorCode, RequestContext};

/// The media type of every error tidegate answers with.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error response body (RFC 9457 + tidegate's members).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// `https://tidegate.dev/problems/{code}`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short human title of the class.
    pub title: String,
    /// The HTTP status of this response.
    pub status: u16,
    /// What happened, for a human. Never contains a credential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The fixed-vocabulary class callers switch on.
    pub code: ErrorCode,
    /// Whether retrying the same request later may succeed.
    pub retryable: bool,
    /// The connector, when the request named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
    /// The integrated account, when the request named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrated_account_id: Option<String>,
    /// Correlation id, also in the `X-Request-Id` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Who produced the error when it was not the upstream (e.g. `"gateway"` for local pacing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// What the upstream said, for normalized upstream errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamProblem>,
    /// Seconds until a retry may succeed; mirrored in `Retry-After`. Not serialized.
    #[serde(skip)]
    pub retry_after: Option<Duration>,
}

/// The upstream part of a normalized upstream error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpstreamProblem {
    /// The status the upstream answered with.
    pub status: u16,
    /// The vendor's error code (from the connector's `errors.code` expression).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The vendor's message (from `errors.message`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The vendor's request id header, when the preset names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The raw upstream error body (JSON, or a string when it was not JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

impl Problem {
    /// A problem of class `code` with the gateway's own status for it.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        Self {
            type_uri: code.type_uri(),
            title: code.title().to_owned(),
            status: code.status().as_u16(),
            detail: (!detail.is_empty()).then_some(detail),
            code,
            retryable: code.retryable(),
            connector: None,
            integrated_account_id: None,
            request_id: None,
            source: None,
            upstream: None,
            retry_after: None,
        }
    }

    /// Fills connector, account and request id from a request context.
    pub fn with_context(mut self, ctx: &RequestContext) -> Self {
        self.connector = Some(ctx.connector.to_string());
        self.integrated_account_id = ctx.account_id.as_deref().map(str::to_owned);
        self.request_id = Some(ctx.request_id.to_string());
        self
    }

    /// Sets the `Retry-After` hint.
    pub fn with_retry_after(mut self, after: Option<Duration>) -> Self {
        self.retry_after = after;
        self
    }

    /// Serializes to JSON bytes.
    pub fn to_json(&self) -> bytes::Bytes {
        serde_json::to_vec(self)
            .expect("a Problem always serializes")
            .into()
    }

    /// The full HTTP response: status, `application/problem+json`, `Retry-After` (whole
    /// seconds, rounded up) when known, and `X-Request-Id` when known.
    pub fn into_response(self) -> http::Response<Body> {
        let mut builder = http::Response::builder()
            .status(self.status)
            .header(http::header::CONTENT_TYPE, PROBLEM_JSON);
        if let Some(after) = self.retry_after {
            builder = builder.header(http::header::RETRY_AFTER, retry_after_secs(after));
        }
        if let Some(id) = self.request_id.as_deref()
            && let Ok(v) = http::HeaderValue::from_str(id)
        {
            builder = builder.header("x-request-id", v);
        }
        builder
            .body(crate::body::full(self.to_json()))
            .expect("static header names and numeric status are valid")
    }
}

impl From<&Error> for Problem {
    fn from(err: &Error) -> Self {
        Problem::new(err.code(), err.detail()).with_retry_after(err.retry_after())
    }
}

/// `Retry-After` delta-seconds: whole seconds, rounded up, at least 1 for any non-zero wait.
pub fn retry_after_secs(after: Duration) -> u64 {
    let secs = after.as_secs();
    if after.subsec_nanos() > 0 {
        secs + 1
    } else {
        secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_contract_shape() {
        let ctx = RequestContext::new("salesforce")
            .with_account("acc_12345")
            .with_request_id("req_987654321");
        let p = Problem::new(ErrorCode::RateLimited, "TotalRequests Limit exceeded.")
            .with_context(&ctx);
        let v: serde_json::Value = serde_json::from_slice(&p.to_json()).unwrap();
        assert_eq!(v["type"], "https://tidegate.dev/problems/rate_limited");
        assert_eq!(v["status"], 429);
        assert_eq!(v["code"], "rate_limited");
        assert_eq!(v["retryable"], true);
        assert_eq!(v["connector"], "salesforce");
        assert_eq!(v["integrated_account_id"], "acc_12345");
        assert_eq!(v["request_id"], "req_987654321");
        assert!(v.get("upstream").is_none());
    }

    #[test]
    fn response_has_media_type_and_retry_after_rounded_up() {
        let resp = Problem::new(ErrorCode::CircuitOpen, "open")
            .with_retry_after(Some(Duration::from_millis(2_100)))
            .into_response();
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers()["content-type"], PROBLEM_JSON);
        assert_eq!(resp.headers()["retry-after"], "3");
    }

    #[test]
    fn retry_after_rounding() {
        assert_eq!(retry_after_secs(Duration::from_secs(5)), 5);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 0);
    }
}
