//! The boundary-log record: one JSON object per upstream exchange (CONTRACT §6).
//!
//! Every string in a record has already passed through the [`Redactor`](crate::redact::Redactor)
//! when the record is built; serialization only writes what is here. Optional figures are
//! written as `null` rather than left out, so every line has the same keys (log pipelines and
//! the JSON Schema in `docs/boundary-log.schema.json` rely on it); only `body` and `error` are
//! left out when absent.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{json::Text, line, timestamp};

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

impl ResponseRecord {
    /// The borrowed view the line writer takes.
    pub(crate) fn part(&self) -> line::ResponsePart<'_> {
        line::ResponsePart {
            status: self.status,
            latency_ms: self.latency_ms,
            ratelimit_remaining: self.ratelimit_remaining,
            ratelimit_reset: self.ratelimit_reset,
            upstream_request_id: self.upstream_request_id.as_deref(),
            body: self.body.as_ref(),
        }
    }
}

impl BoundaryRecord {
    /// The record as one JSON line (with the trailing newline): the same bytes as
    /// `serde_json::to_vec(self)` plus `\n`, written by the functions the layer itself writes
    /// its lines with (see `line.rs`), so the two cannot drift apart.
    pub fn to_line(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        let head = line::Head {
            timestamp: Text::Any(&self.timestamp),
            request_id: &self.request_id,
            environment_id: self.environment_id.as_deref(),
            integrated_account_id: self.integrated_account_id.as_deref(),
            connector: &self.connector,
            attempt: self.attempt,
        };
        let request = &self.request;
        line::open(&mut out, &head, Text::Any(&request.method));
        super::json::string(&mut out, &request.url);
        line::headers(&mut out, |m| {
            for (name, value) in &request.headers {
                m.entry(Text::Any(name), value);
            }
        });
        line::redacted_names(&mut out, |m| {
            for name in &request.headers_redacted {
                m.item(name);
            }
        });
        line::idempotency_key(&mut out, request.idempotency_key.as_deref());
        let response = self.response.as_ref().map(ResponseRecord::part);
        let error = self.error.as_ref().map(|e| line::ErrorPart {
            latency_ms: e.latency_ms,
            message: &e.message,
        });
        line::close(
            &mut out,
            request.body.as_ref(),
            response.as_ref(),
            error.as_ref(),
            &self.outcome,
        );
        out
    }
}

/// `2026-10-14T08:12:33.412Z`.
pub fn format_timestamp(at: time::OffsetDateTime) -> String {
    timestamp::format(at).as_str().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::{option, prelude::*};

    #[test]
    fn timestamp_format() {
        let at = time::macros::datetime!(2026-10-14 08:12:33.412 UTC);
        assert_eq!(format_timestamp(at), "2026-10-14T08:12:33.412Z");
    }

    /// Any text, with a bias towards what needs escaping.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![any::<String>(), "[a-z\"\\\\\x00-\x1f\x7f é]{0,12}"]
    }

    fn body() -> impl Strategy<Value = Option<serde_json::Value>> {
        option::of(prop_oneof![
            text().prop_map(serde_json::Value::String),
            (text(), any::<i64>(), any::<bool>()).prop_map(|(k, n, b)| {
                serde_json::json!({ k: [n, b, null, 1.5], "nested": { "s": "a\"b" } })
            }),
        ])
    }

    fn record() -> impl Strategy<Value = BoundaryRecord> {
        let request = (
            (text(), text()),
            prop::collection::btree_map(text(), text(), 0..6),
            prop::collection::vec(text(), 0..4),
            option::of(text()),
            body(),
        )
            .prop_map(
                |((method, url), headers, headers_redacted, idempotency_key, body)| RequestRecord {
                    method,
                    url,
                    headers,
                    headers_redacted,
                    idempotency_key,
                    body,
                },
            );
        let response = option::of(
            (
                any::<u16>(),
                any::<u64>(),
                option::of(any::<u64>()),
                option::of(any::<u64>()),
                option::of(text()),
                body(),
            )
                .prop_map(|(status, latency_ms, rem, reset, up, body)| {
                    ResponseRecord {
                        status,
                        latency_ms,
                        ratelimit_remaining: rem,
                        ratelimit_reset: reset,
                        upstream_request_id: up,
                        body,
                    }
                }),
        );
        let error =
            option::of(
                (any::<u64>(), text()).prop_map(|(latency_ms, message)| ErrorRecord {
                    latency_ms,
                    message,
                }),
            );
        (
            (text(), text(), option::of(text()), option::of(text())),
            (text(), any::<u32>(), text()),
            request,
            response,
            error,
        )
            .prop_map(
                |(
                    (timestamp, request_id, environment_id, integrated_account_id),
                    (connector, attempt, outcome),
                    request,
                    response,
                    error,
                )| {
                    BoundaryRecord {
                        timestamp,
                        request_id,
                        environment_id,
                        integrated_account_id,
                        connector,
                        attempt,
                        request,
                        response,
                        error,
                        outcome,
                    }
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// The hand-written line is serde_json's serialization of the record, byte for byte.
        #[test]
        fn to_line_is_serde_json_of_the_record(record in record()) {
            let mut expected = serde_json::to_vec(&record).unwrap();
            expected.push(b'\n');
            prop_assert_eq!(
                String::from_utf8(record.to_line()).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        }
    }
}
