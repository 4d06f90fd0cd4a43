//! Shared helpers: the preset files (read at compile time from the config crate's data files),
//! a fixed clock, and a stack of this crate's layers around a canned upstream response.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use tidegate_core::{Body, RequestContext};
use tidegate_upstream::{
    ErrorNormalizationLayer, ErrorSettings, RateLimitHeadersLayer, RateLimitSettings,
    errors::ErrorExprs,
    settings::{ErrorParts, RateLimitParts, error_settings, rate_limit_settings},
};
use tower::{Layer, ServiceExt, service_fn};

/// 2026-11-29T12:00:00Z.
pub const NOW_SECS: u64 = 1_795_953_600;

pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW_SECS)
}

macro_rules! presets {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../tidegate-config/presets/", $name, ".toml")))),*]
    };
}

/// Every built-in preset file (name, TOML).
pub const PRESETS: &[(&str, &str)] = presets!(
    "asana",
    "github",
    "google",
    "hubspot",
    "intercom",
    "jira",
    "msgraph",
    "netsuite",
    "notion",
    "pipedrive",
    "quickbooks",
    "salesforce",
    "shopify",
    "slack",
    "stripe",
    "xero",
    "zendesk",
);

fn duration(s: &str) -> Duration {
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    let n: u64 = digits.parse().unwrap();
    match &s[digits.len()..] {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        "d" => Duration::from_secs(n * 86_400),
        other => panic!("unit {other}"),
    }
}

/// The settings this crate builds from a preset's `rate_limit`, `errors` and
/// `request_id_header` (the same conversion the stack builder does).
pub fn preset_settings(name: &str) -> (RateLimitSettings, ErrorSettings) {
    let src = PRESETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no preset {name}"))
        .1;
    let table: toml::Table = src.parse().unwrap_or_else(|e| panic!("{name}: {e}"));
    let empty = toml::Table::new();
    let rl = table
        .get("rate_limit")
        .and_then(|v| v.as_table())
        .unwrap_or(&empty);
    let s = |t: &toml::Table, k: &str| t.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let (limit, remaining, reset, unit, format, window) = (
        s(rl, "limit"),
        s(rl, "remaining"),
        s(rl, "reset"),
        s(rl, "reset_unit"),
        s(rl, "format"),
        s(rl, "window"),
    );
    let rate = rate_limit_settings(&RateLimitParts {
        limit: limit.as_deref(),
        remaining: remaining.as_deref(),
        reset: reset.as_deref(),
        reset_unit: unit.as_deref(),
        format: format.as_deref(),
        window: window.as_deref().map(duration),
    })
    .unwrap_or_else(|e| panic!("{name}: rate_limit: {e}"));
    let er = table
        .get("errors")
        .and_then(|v| v.as_table())
        .unwrap_or(&empty);
    let (code, message, class, retryable, when, status) = (
        s(er, "code"),
        s(er, "message"),
        s(er, "class"),
        s(er, "retryable"),
        s(er, "when"),
        s(er, "status"),
    );
    let rate_limited_statuses = er
        .get("rate_limited_statuses")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .map(|v| u16::try_from(v.as_integer().unwrap()).unwrap())
                .collect()
        })
        .unwrap_or_default();
    let request_id_header = s(&table, "request_id_header");
    let errors = error_settings(&ErrorParts {
        exprs: ErrorExprs {
            code: code.as_deref(),
            message: message.as_deref(),
            class: class.as_deref(),
            retryable: retryable.as_deref(),
            when: when.as_deref(),
            status: status.as_deref(),
        },
        rate_limited_statuses,
        include_body: er
            .get("include_body")
            .and_then(|v| v.as_bool())
            .unwrap_or(true),
        request_id_header: request_id_header.as_deref(),
    })
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    (rate, errors)
}

/// The context every test request carries.
pub fn context(connector: &str) -> RequestContext {
    RequestContext::new(connector.to_owned())
        .with_account("acc_1")
        .with_request_id("req_1")
}

/// Runs one canned upstream response through RateLimitHeaders(ErrorNormalization(upstream)).
pub async fn through_stack(
    connector: &str,
    rate: RateLimitSettings,
    errors: ErrorSettings,
    status: u16,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> (StatusCode, http::HeaderMap, Bytes) {
    let body: Bytes = body.into();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let upstream = service_fn(move |_req: Request<Body>| {
        let mut builder = Response::builder().status(status);
        for (k, v) in &headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let resp = builder
            .body(tidegate_core::body::full(body.clone()))
            .unwrap();
        async move { Ok::<_, tidegate_core::Error>(resp) }
    });
    let svc = RateLimitHeadersLayer::new(Arc::new(rate))
        .with_clock(Arc::new(now))
        .layer(ErrorNormalizationLayer::new(Arc::new(errors)).layer(upstream));
    let mut req = Request::new(tidegate_core::body::empty());
    req.extensions_mut().insert(context(connector));
    let resp = svc.oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (parts.status, parts.headers, bytes)
}
