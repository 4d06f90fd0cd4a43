//! Error normalization: upstream error responses become CONTRACT §4's problem+json.
//!
//! [`normalize`] is the pure core (status + headers + the first ≤ 64 KiB of the body in, a
//! [`Problem`] out); [`ErrorNormalizationLayer`] applies it to a connector stack's responses.
//!
//! What becomes an error: every status ≥ 400, and a 2xx whose body matches the connector's
//! `errors.when` expression (Slack's `ok = false`). The problem's fields:
//!
//! | field | from |
//! |---|---|
//! | `status` | the upstream status; for a 2xx flagged by `errors.when`, `errors.status` (default 400); a class refined to `rate_limited` (by `errors.class` or `errors.rate_limited_statuses`) answers 429 |
//! | `code` | the default class of that status ([`ErrorCode::from_upstream_status`]), refined by `errors.class` (an unknown code is ignored with a warning) |
//! | `retryable` | the class's default, overridden by `errors.retryable` when it yields a boolean |
//! | `detail`, `upstream.message` | `errors.message`; a non-JSON body is its own message |
//! | `upstream.code` | `errors.code` |
//! | `upstream.request_id` | the `request_id_header` response header |
//! | `upstream.body` | the body (JSON, or a string when it is not JSON), unless `include_body = false` |
//!
//! Expressions see the parsed body as `$`, plus `$status` and `$headers` (lower-case names).
//! An expression that fails or times out yields nothing and a warning; it never fails the
//! request.
//!
//! Every problem is redacted ([`redaction`]) before [`normalize`] returns it: the upstream
//! body echoes what callers sent (emails, passwords, tokens), and CONTRACT §6 forbids any of
//! it in a problem response.

pub mod body;
pub mod layer;
pub mod redaction;

use std::sync::Arc;

use http::{HeaderMap, HeaderName, StatusCode};
use serde_json::Value;
use tidegate_core::{ErrorCode, Problem, RequestContext, UpstreamProblem};

pub use body::{PrefixedBody, ReadOutcome, read_capped};
pub use layer::{ErrorNormalization, ErrorNormalizationLayer, ResponseFuture};

use crate::expr::{Bindings, Compiled, EvalError, ExpressionEngine, JsonataEngine};

/// At most this much of an upstream body is read for normalization (64 KiB).
pub const MAX_ERROR_BODY: usize = 64 * 1024;

/// Longest message kept from a non-JSON body or an expression result (characters).
pub const MAX_MESSAGE_CHARS: usize = 1024;

/// The expression sources of `errors`, as written in config (before compilation).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorExprs<'a> {
    /// → `upstream.code`.
    pub code: Option<&'a str>,
    /// → `detail` and `upstream.message`.
    pub message: Option<&'a str>,
    /// → refined problem `code`.
    pub class: Option<&'a str>,
    /// → `retryable`.
    pub retryable: Option<&'a str>,
    /// Over a 2xx body: true when it is really an error.
    pub when: Option<&'a str>,
    /// → the status to answer.
    pub status: Option<&'a str>,
}

/// A compile error of one `errors.*` expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprError {
    /// The key under `errors` (`"code"`, `"message"`, …), for the config diagnostic's path.
    pub field: &'static str,
    /// The engine's message.
    pub message: String,
}

impl std::fmt::Display for ExprError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "errors.{}: invalid expression: {}",
            self.field, self.message
        )
    }
}

impl std::error::Error for ExprError {}

/// Everything the error normalization of one connector needs, compiled once.
#[derive(Clone)]
pub struct ErrorSettings {
    /// `errors.code`.
    pub code: Option<Compiled>,
    /// `errors.message`.
    pub message: Option<Compiled>,
    /// `errors.class`.
    pub class: Option<Compiled>,
    /// `errors.retryable`.
    pub retryable: Option<Compiled>,
    /// `errors.when`.
    pub when: Option<Compiled>,
    /// `errors.status`.
    pub status: Option<Compiled>,
    /// Statuses that mean "rate limited" (Shopify's 430); 429 always does.
    pub rate_limited_statuses: Vec<u16>,
    /// Whether `upstream.body` carries the upstream body.
    pub include_body: bool,
    /// The upstream's request-id response header.
    pub request_id_header: Option<HeaderName>,
    /// Bytes of body read for normalization.
    pub max_body: usize,
    /// Longest wait for the (capped) error body once the headers arrived.
    pub body_read_timeout: std::time::Duration,
    /// The expression engine.
    pub engine: Arc<dyn ExpressionEngine>,
    /// Redacts every problem before it leaves (`[logging] redact_fields` / `redact_headers`;
    /// [`redaction::default_redactor`] unless the stack passes the configured one).
    pub redactor: tidegate_observe::redact::Redactor,
}

impl std::fmt::Debug for ErrorSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErrorSettings")
            .field("code", &self.code)
            .field("message", &self.message)
            .field("class", &self.class)
            .field("retryable", &self.retryable)
            .field("when", &self.when)
            .field("status", &self.status)
            .field("rate_limited_statuses", &self.rate_limited_statuses)
            .field("include_body", &self.include_body)
            .field("request_id_header", &self.request_id_header)
            .finish_non_exhaustive()
    }
}

impl Default for ErrorSettings {
    fn default() -> Self {
        Self {
            code: None,
            message: None,
            class: None,
            retryable: None,
            when: None,
            status: None,
            rate_limited_statuses: Vec::new(),
            include_body: true,
            request_id_header: None,
            max_body: MAX_ERROR_BODY,
            body_read_timeout: std::time::Duration::from_secs(10),
            engine: Arc::new(JsonataEngine::default()),
            redactor: redaction::default_redactor(),
        }
    }
}

impl ErrorSettings {
    /// Compiles the expressions of `exprs` with the default engine.
    pub fn compile(exprs: &ErrorExprs<'_>) -> Result<Self, ExprError> {
        Self::compile_with(exprs, Arc::new(JsonataEngine::default()))
    }

    /// Compiles the expressions of `exprs` with `engine`.
    pub fn compile_with(
        exprs: &ErrorExprs<'_>,
        engine: Arc<dyn ExpressionEngine>,
    ) -> Result<Self, ExprError> {
        let c = |field: &'static str, src: Option<&str>| -> Result<Option<Compiled>, ExprError> {
            src.map(|s| {
                engine
                    .compile(s)
                    .map_err(|message| ExprError { field, message })
            })
            .transpose()
        };
        Ok(Self {
            code: c("code", exprs.code)?,
            message: c("message", exprs.message)?,
            class: c("class", exprs.class)?,
            retryable: c("retryable", exprs.retryable)?,
            when: c("when", exprs.when)?,
            status: c("status", exprs.status)?,
            engine: engine.clone(),
            ..Self::default()
        })
    }

    /// Builder: statuses meaning "rate limited".
    pub fn with_rate_limited_statuses(mut self, statuses: Vec<u16>) -> Self {
        self.rate_limited_statuses = statuses;
        self
    }

    /// Builder: whether `upstream.body` is filled.
    pub fn with_include_body(mut self, include: bool) -> Self {
        self.include_body = include;
        self
    }

    /// Builder: the upstream request-id header.
    pub fn with_request_id_header(mut self, header: Option<HeaderName>) -> Self {
        self.request_id_header = header;
        self
    }

    /// Builder: the redactor applied to every problem (the configured `[logging]` one).
    pub fn with_redactor(mut self, redactor: tidegate_observe::redact::Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Whether a 2xx response may be an error and its body must be inspected.
    pub fn inspects_success(&self) -> bool {
        self.when.is_some()
    }
}

/// The upstream body as expressions see it: JSON when it parses (within serde_json's nesting
/// limit of 128), else its text (lossy UTF-8) as a string; `Null` when empty.
pub fn body_value(body: &[u8]) -> Value {
    let trimmed = body.trim_ascii();
    if trimmed.is_empty() {
        return Value::Null;
    }
    match serde_json::from_slice::<Value>(trimmed) {
        Ok(v) => v,
        Err(_) => Value::String(String::from_utf8_lossy(trimmed).into_owned()),
    }
}

/// `$headers`: lower-case names, several values joined by `", "`, non-text values and
/// `set-cookie` left out.
pub fn header_bindings(headers: &HeaderMap) -> serde_json::Map<String, Value> {
    let mut map = serde_json::Map::new();
    for name in headers.keys() {
        if name == http::header::SET_COOKIE {
            continue;
        }
        if let Some(v) = crate::ratelimit::mapping::joined(headers, name) {
            map.insert(name.as_str().to_owned(), Value::String(v.into_owned()));
        }
    }
    map
}

fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// An expression result as text: strings as is, numbers/booleans printed, `null` = nothing,
/// arrays of strings joined by "; " (e.g. Jira's `errorMessages`), anything else as JSON.
fn as_text(v: Value) -> Option<String> {
    let text = match v {
        Value::Null => return None,
        Value::String(s) => s,
        Value::Array(items) if items.is_empty() => return None,
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    };
    let text = text.trim();
    (!text.is_empty()).then(|| truncate_chars(text, MAX_MESSAGE_CHARS))
}

fn warn_failed(ctx: Option<&RequestContext>, field: &str, err: &EvalError) {
    tracing::warn!(
        connector = ctx.map(|c| &*c.connector),
        request_id = ctx.map(|c| &*c.request_id),
        field,
        error = %err,
        "errors.{field} expression failed; using the default"
    );
}

fn settle(
    ctx: Option<&RequestContext>,
    field: &str,
    r: Option<Result<Value, EvalError>>,
) -> Option<Value> {
    match r? {
        Ok(v) => (!v.is_null()).then_some(v),
        Err(e) => {
            warn_failed(ctx, field, &e);
            None
        }
    }
}

/// Status a 2xx that `errors.when` flagged answers with when `errors.status` says nothing.
pub const DEFAULT_WHEN_STATUS: u16 = 400;

/// Normalizes one upstream response. `body` is what was read (at most
/// [`ErrorSettings::max_body`] bytes). Returns `None` when the response is not an error.
pub fn normalize(
    settings: &ErrorSettings,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    ctx: Option<&RequestContext>,
) -> Option<Problem> {
    let upstream_status = status.as_u16();
    let is_error_status = upstream_status >= 400;
    if !is_error_status && settings.when.is_none() {
        return None;
    }
    let data = body_value(body);
    // `$headers` is only built when an expression mentions it (most do not).
    let uses_headers = [
        &settings.code,
        &settings.message,
        &settings.class,
        &settings.retryable,
        &settings.when,
        &settings.status,
    ]
    .into_iter()
    .flatten()
    .any(|c| c.source().contains("$headers"));
    let bindings = Bindings {
        status: upstream_status,
        headers: if uses_headers {
            header_bindings(headers)
        } else {
            serde_json::Map::new()
        },
    };
    if !is_error_status {
        let when = settings
            .engine
            .evaluate_many(&[settings.when.as_ref()], &data, &bindings)
            .pop()
            .flatten();
        if settle(ctx, "when", when) != Some(Value::Bool(true)) {
            return None;
        }
    }
    let mut results = settings
        .engine
        .evaluate_many(
            &[
                settings.code.as_ref(),
                settings.message.as_ref(),
                settings.class.as_ref(),
                settings.retryable.as_ref(),
                settings.status.as_ref().filter(|_| !is_error_status),
            ],
            &data,
            &bindings,
        )
        .into_iter();
    let mut next = |field| settle(ctx, field, results.next().flatten());
    let vendor_code = next("code").and_then(as_text);
    let mut message = next("message").and_then(as_text);
    let class_value = next("class");
    let retryable_value = next("retryable");
    let status_value = next("status");

    // `errors.status` answers for a 2xx flagged by `errors.when`; real error statuses are kept.
    let mut answer_status = if is_error_status {
        upstream_status
    } else {
        status_value
            .as_ref()
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
            .filter(|s| (400..=599).contains(s))
            .unwrap_or(DEFAULT_WHEN_STATUS)
    };

    let mut code =
        if answer_status == 429 || settings.rate_limited_statuses.contains(&answer_status) {
            ErrorCode::RateLimited
        } else {
            ErrorCode::from_upstream_status(
                StatusCode::from_u16(answer_status).unwrap_or(StatusCode::BAD_GATEWAY),
            )
            .unwrap_or(ErrorCode::UpstreamServerError)
        };
    if let Some(v) = class_value {
        match v.as_str().and_then(ErrorCode::parse) {
            Some(refined) => code = refined,
            None => tracing::warn!(
                connector = ctx.map(|c| &*c.connector),
                class = %settings.redactor.text(&truncate_chars(&v.to_string(), 64)),
                "errors.class yielded a code outside the fixed vocabulary; ignored"
            ),
        }
    }
    if code == ErrorCode::RateLimited {
        answer_status = 429;
    }
    let retryable = retryable_value
        .and_then(|v| v.as_bool())
        .unwrap_or(code.retryable());

    // A body that is not JSON is its own message.
    if message.is_none()
        && let Value::String(text) = &data
    {
        message = as_text(Value::String(text.clone()));
    }
    let request_id = settings
        .request_id_header
        .as_ref()
        .and_then(|h| headers.get(h))
        .and_then(|v| v.to_str().ok())
        .map(|s| truncate_chars(s, 256));

    let mut problem = Problem::new(
        code,
        message.clone().unwrap_or_else(|| code.title().to_owned()),
    );
    problem.status = answer_status;
    problem.retryable = retryable;
    if let Some(ctx) = ctx {
        problem = problem.with_context(ctx);
    }
    problem.upstream = Some(UpstreamProblem {
        status: upstream_status,
        code: vendor_code,
        message,
        request_id,
        body: (settings.include_body && !data.is_null()).then_some(data),
    });
    redaction::redact_problem(&settings.redactor, &mut problem);
    Some(problem)
}
