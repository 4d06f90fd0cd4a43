//! `ANY /echo[/…]`: describes the request that arrived, so tests can prove what the gateway
//! forwarded (and what it stripped).
//!
//! The body is streamed through a SHA-256 and counted, never held whole: the answer carries
//! `body_bytes` and `body_sha256` always, and `body` (the text) only when the body is valid
//! UTF-8 of at most [`INLINE_BODY_LIMIT`] bytes.
//!
//! ```json
//! { "method": "POST", "path": "/echo/a", "query": "x=1",
//!   "headers": { "content-type": "application/json", "x-multi": ["1", "2"] },
//!   "body": "{\"a\":1}", "body_bytes": 7, "body_sha256": "…" }
//! ```

use std::collections::BTreeMap;

use axum::{
    Json,
    extract::Request,
    response::{IntoResponse, Response},
};
use http::StatusCode;
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};

/// Bodies up to this size are echoed as text.
pub const INLINE_BODY_LIMIT: usize = 64 * 1024;

/// What `/echo` answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Echo {
    /// Request method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Headers by lower-case name: a string, or an array when repeated.
    pub headers: BTreeMap<String, serde_json::Value>,
    /// The body as text, when small and UTF-8.
    pub body: Option<String>,
    /// Body length in bytes.
    pub body_bytes: u64,
    /// Hex SHA-256 of the body.
    pub body_sha256: String,
}

impl Echo {
    /// The single value of header `name` (lower case), if present once.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.as_str())
    }
}

pub(crate) async fn echo(req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let mut headers: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    for (name, value) in &parts.headers {
        let value = serde_json::Value::String(String::from_utf8_lossy(value.as_bytes()).into());
        match headers.get_mut(name.as_str()) {
            None => {
                headers.insert(name.as_str().to_owned(), value);
            }
            Some(serde_json::Value::Array(values)) => values.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = serde_json::Value::Array(vec![first, value]);
            }
        }
    }

    let mut digest = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut total = 0u64;
    let mut inline = Vec::new();
    let mut body = std::pin::pin!(body);
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(f) => f,
            Err(err) => {
                return (StatusCode::BAD_REQUEST, format!("body error: {err}")).into_response();
            }
        };
        if let Ok(data) = frame.into_data() {
            digest.update(&data);
            total += data.len() as u64;
            if total as usize <= INLINE_BODY_LIMIT {
                inline.extend_from_slice(&data);
            } else {
                inline = Vec::new();
            }
        }
    }
    let body = (total as usize <= INLINE_BODY_LIMIT)
        .then(|| String::from_utf8(inline).ok())
        .flatten();
    Json(Echo {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers,
        body,
        body_bytes: total,
        body_sha256: hex::encode(digest.finish().as_ref()),
    })
    .into_response()
}
