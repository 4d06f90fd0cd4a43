//! The boundary-log record: one JSON object per upstream exchange (CONTRACT §6).
//!
//! Every string in a record has already passed through the [`Redactor`](crate::redact::Redactor)
//! when the record is built; serialization only writes what is here. Optional figures are
//! written as `null` rather than left out, so every line has the same keys (log pipelines and
//! the JSON Schema in `docs/boundary-log.schema.json` rely on it); only `body` and `error` are
//! left out when absent.

use std::collections::BTreeMap;

use serde::Serialize;

/// One line of the boundary log.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BoundaryRecord {
    /// When the request was handed to the HTTP client, RFC 3339 UTC with milliseconds.
    pub timestamp: String,
    /// The request id (caller's `X-Request-Id` or generated).
    pub request_id: String,
    /// The environment of the caller's api key.
    pub environment_id: Option<String>,
    /// The integrated account whose credentials were injected.
    pub integrated_account_id: Option<String>,
    /// The connector (config table name).
    pub connector: String,
    /// 1 for the first try, 2.. for retries.
    pub attempt: u32,
    /// The request as sent upstream.
    pub request: RequestRecord,
    /// The response as received (before normalization); `null` when none was received.
    pub response: Option<ResponseRecord>,
    /// Why no response was received (timeout, connection failure); left out otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorRecord>,
    /// `"ok"` or the error class (an `ErrorCode` wire name).
    pub outcome: String,
}

/// The request part of a [`BoundaryRecord`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RequestRecord {
    /// The HTTP method.
    pub method: String,
    /// The full upstream URL with secret query values redacted.
    pub url: String,
    /// Headers as sent, secret ones `[REDACTED]`.
    pub headers: BTreeMap<String, String>,
    /// The names of the headers whose values were redacted.
    pub headers_redacted: Vec<String>,
    /// The idempotency key sent upstream, if any.
    pub idempotency_key: Option<String>,
    /// The redacted request body, for sampled exchanges only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

/// The response part of a [`BoundaryRecord`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResponseRecord {
    /// The upstream status.
    pub status: u16,
    /// Time from handing the request to the client until the response headers arrived.
    pub latency_ms: u64,
    /// Requests left in the most restrictive window, when the upstream said.
    pub ratelimit_remaining: Option<u64>,
    /// Seconds until that window resets, when the upstream said.
    pub ratelimit_reset: Option<u64>,
    /// The upstream's own request id (the connector's `request_id_header`).
    pub upstream_request_id: Option<String>,
    /// The redacted response body, for sampled exchanges and error responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

/// What happened when no response was received.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ErrorRecord {
    /// Time until the failure.
    pub latency_ms: u64,
    /// The redacted error message.
    pub message: String,
}

impl BoundaryRecord {
    /// The record as one JSON line (with the trailing newline).
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = Vec::with_capacity(512);
        serde_json::to_writer(&mut line, self).expect("a record always serializes");
        line.push(b'\n');
        line
    }
}

/// `2026-10-14T08:12:33.412Z`.
pub fn format_timestamp(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_format() {
        let at = time::macros::datetime!(2026-10-14 08:12:33.412 UTC);
        assert_eq!(format_timestamp(at), "2026-10-14T08:12:33.412Z");
    }
}
