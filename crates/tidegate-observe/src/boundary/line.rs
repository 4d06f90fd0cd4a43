//! The layout of a boundary-log line: the one place that decides key names and key order.
//!
//! A line is written in three steps because its parts are known at different times: the
//! head and the request (method, URL, headers, idempotency key) when the request is handed to
//! the client, and the rest (request body, response, error, outcome) when the exchange ends.
//! The request object is left open in between so that a captured request body can still be
//! added to it. [`BoundaryRecord::to_line`](super::BoundaryRecord::to_line) writes through the
//! same functions, so the layer and the public record cannot disagree on the format; a test
//! in `record.rs` checks both against serde_json's serialization of the record.
//!
//! Every string given here must already be redacted: these functions only escape.

use super::json::{self, Text};

/// The fields before `request`.
pub(crate) struct Head<'a> {
    pub(crate) timestamp: Text<'a>,
    pub(crate) request_id: &'a str,
    pub(crate) environment_id: Option<&'a str>,
    pub(crate) integrated_account_id: Option<&'a str>,
    pub(crate) connector: &'a str,
    pub(crate) attempt: u32,
}

/// The `response` object (bodies are written by serde_json, as before).
pub(crate) struct ResponsePart<'a> {
    pub(crate) status: u16,
    pub(crate) latency_ms: u64,
    pub(crate) ratelimit_remaining: Option<u64>,
    pub(crate) ratelimit_reset: Option<u64>,
    pub(crate) upstream_request_id: Option<&'a str>,
    pub(crate) body: Option<&'a serde_json::Value>,
}

/// The `error` object.
pub(crate) struct ErrorPart<'a> {
    pub(crate) latency_ms: u64,
    pub(crate) message: &'a str,
}

/// `{"timestamp":…,"attempt":N,"request":{"method":"GET","url":` — the caller writes the URL
/// string next (see [`json::string`] / [`json::escaped`]).
pub(crate) fn open(out: &mut Vec<u8>, head: &Head<'_>, method: Text<'_>) {
    out.extend_from_slice(b"{\"timestamp\":");
    json::text(out, head.timestamp);
    out.extend_from_slice(b",\"request_id\":");
    json::string(out, head.request_id);
    out.extend_from_slice(b",\"environment_id\":");
    json::opt_string(out, head.environment_id);
    out.extend_from_slice(b",\"integrated_account_id\":");
    json::opt_string(out, head.integrated_account_id);
    out.extend_from_slice(b",\"connector\":");
    json::string(out, head.connector);
    out.extend_from_slice(b",\"attempt\":");
    json::uint(out, u64::from(head.attempt));
    out.extend_from_slice(b",\"request\":{\"method\":");
    json::text(out, method);
    out.extend_from_slice(b",\"url\":");
}

/// The members of a JSON object or array being written, comma-separated as they come.
pub(crate) struct Members<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl Members<'_> {
    fn separate(&mut self) {
        if !std::mem::replace(&mut self.first, false) {
            self.out.push(b',');
        }
    }

    /// `"name":"value"` in an object.
    pub(crate) fn entry(&mut self, name: Text<'_>, value: &str) {
        self.separate();
        json::text(self.out, name);
        self.out.push(b':');
        json::string(self.out, value);
    }

    /// `"value"` in an array.
    pub(crate) fn item(&mut self, value: &str) {
        self.separate();
        json::string(self.out, value);
    }
}

/// `,"headers":{…}`; `fill` adds the entries in name order.
pub(crate) fn headers(out: &mut Vec<u8>, fill: impl FnOnce(&mut Members<'_>)) {
    members(out, b",\"headers\":{", b'}', fill);
}

/// `,"headers_redacted":[…]`; `fill` adds the names.
pub(crate) fn redacted_names(out: &mut Vec<u8>, fill: impl FnOnce(&mut Members<'_>)) {
    members(out, b",\"headers_redacted\":[", b']', fill);
}

/// `open`, the members `fill` adds, `close`.
fn members(out: &mut Vec<u8>, open: &[u8], close: u8, fill: impl FnOnce(&mut Members<'_>)) {
    out.extend_from_slice(open);
    fill(&mut Members {
        out: &mut *out,
        first: true,
    });
    out.push(close);
}

/// `,"idempotency_key":…` (the request object stays open).
pub(crate) fn idempotency_key(out: &mut Vec<u8>, key: Option<&str>) {
    out.extend_from_slice(b",\"idempotency_key\":");
    json::opt_string(out, key);
}

/// Closes the request (after its optional body) and writes the rest of the line, with the
/// trailing newline.
pub(crate) fn close(
    out: &mut Vec<u8>,
    request_body: Option<&serde_json::Value>,
    response: Option<&ResponsePart<'_>>,
    error: Option<&ErrorPart<'_>>,
    outcome: &str,
) {
    if let Some(body) = request_body {
        out.extend_from_slice(b",\"body\":");
        value(out, body);
    }
    out.extend_from_slice(b"},\"response\":");
    match response {
        Some(r) => {
            out.extend_from_slice(b"{\"status\":");
            json::uint(out, u64::from(r.status));
            out.extend_from_slice(b",\"latency_ms\":");
            json::uint(out, r.latency_ms);
            out.extend_from_slice(b",\"ratelimit_remaining\":");
            json::opt_uint(out, r.ratelimit_remaining);
            out.extend_from_slice(b",\"ratelimit_reset\":");
            json::opt_uint(out, r.ratelimit_reset);
            out.extend_from_slice(b",\"upstream_request_id\":");
            json::opt_string(out, r.upstream_request_id);
            if let Some(body) = r.body {
                out.extend_from_slice(b",\"body\":");
                value(out, body);
            }
            out.push(b'}');
        }
        None => out.extend_from_slice(b"null"),
    }
    if let Some(e) = error {
        out.extend_from_slice(b",\"error\":{\"latency_ms\":");
        json::uint(out, e.latency_ms);
        out.extend_from_slice(b",\"message\":");
        json::string(out, e.message);
        out.push(b'}');
    }
    out.extend_from_slice(b",\"outcome\":");
    json::string(out, outcome);
    out.extend_from_slice(b"}\n");
}

/// A body (already redacted), as serde_json writes it.
fn value(out: &mut Vec<u8>, body: &serde_json::Value) {
    serde_json::to_writer(&mut *out, body).expect("a JSON value always serializes");
}
