//! Semantic checks that serde cannot express (URLs, ranges, cross-field rules), each located
//! at the offending value. Some checks also normalise (lower-case header names, upper-case
//! methods) or fill provider-specific defaults.

use std::ops::Range;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use toml::Spanned;
use toml::de::DeValue;

use super::Sections;
use super::diag::Diagnostics;
use super::recover::{key_span_at, span_at};
use crate::model::{DEFAULT_KEY_ENV, DEFAULT_KEY_PATH};
use crate::{
    AuditConfig, AuthConfig, BodyLogging, BreakerConfig, ClaimCheckConfig, ConnectorConfig,
    EnvironmentConfig, EventsConfig, KeyProvider, KeysConfig, LocksConfig, LoggingConfig,
    ServerConfig, StorageConfig, WindowConfig, connector::parse_quota,
};

/// Where a value being validated came from: its spanned table and config path.
pub(crate) struct At<'a, 'i> {
    value: &'a Spanned<DeValue<'i>>,
    path: Vec<&'a str>,
}

impl<'a, 'i> At<'a, 'i> {
    pub(crate) fn new(value: &'a Spanned<DeValue<'i>>, path: &[&'a str]) -> Self {
        Self {
            value,
            path: path.to_vec(),
        }
    }

    /// Span of the value at `keys` (relative to this table).
    pub(super) fn span(&self, keys: &[&str]) -> Range<usize> {
        span_at(self.value, keys)
    }

    /// Span of the key at `keys`, for "this key does not belong here" errors.
    fn key_span(&self, keys: &[&str]) -> Range<usize> {
        key_span_at(self.value, keys)
    }

    /// Span of item `index` of the array at `keys`, or of the array.
    fn item_span(&self, keys: &[&str], index: usize) -> Range<usize> {
        let mut current = self.value;
        for key in keys {
            match current.get_ref().as_table().and_then(|t| t.get(*key)) {
                Some(next) => current = next,
                None => return current.span(),
            }
        }
        current
            .get_ref()
            .as_array()
            .and_then(|items| items.get(index))
            .map_or_else(|| current.span(), |item| item.span())
    }

    /// The dotted config path of `key`, e.g. `connectors.hubspot.timeout`.
    pub(super) fn name(&self, keys: &[&str]) -> String {
        let mut all = self.path.clone();
        all.extend_from_slice(keys);
        all.join(".")
    }
}

/// Every spelling of `rate_limit.reset_unit` the rate-limit layer understands (kept in step
/// with `ResetUnit::from_str` in tidegate-upstream), lower-case with `_` for `-`.
const RESET_UNITS: &[&str] = &[
    "seconds",
    "s",
    "delta_seconds",
    "delay_seconds",
    "ms",
    "millis",
    "milliseconds",
    "delta_ms",
    "epoch",
    "unix",
    "epoch_seconds",
    "unix_seconds",
    "epoch_ms",
    "unix_ms",
    "epoch_millis",
    "iso8601",
    "rfc3339",
    "timestamp",
    "http_date",
    "httpdate",
    "window",
    "window_s",
    "window_seconds",
    "window_ms",
    "window_millis",
    "auto",
];

/// Semantic validation of one deserialized table.
pub(crate) trait Validate {
    fn validate(&mut self, at: &At<'_, '_>, diag: &mut Diagnostics);
}

/// Why `name` cannot name a connector or environment (it appears in URL paths), if it can't.
pub(crate) fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.len() > 64 {
        return Some("must be 1 to 64 characters long");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Some("may only contain letters, digits, `-` and `_` (it appears in URLs)");
    }
    None
}

fn check_http_url(url: &str, span: Range<usize>, what: &str, diag: &mut Diagnostics) {
    if let Err(problem) = http_url_problem(url) {
        diag.error(span, format!("{what}: invalid URL {url:?}: {problem}"));
    }
}

fn http_url_problem(url: &str) -> Result<(), &'static str> {
    const EXPECTED: &str = "expected an absolute http:// or https:// URL";
    let uri: http::Uri = url.parse().map_err(|_| EXPECTED)?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(EXPECTED),
    }
    match uri.authority() {
        Some(a) if !a.host().is_empty() => Ok(()),
        _ => Err(EXPECTED),
    }
}

fn positive(d: Duration, at: &At<'_, '_>, keys: &[&str], diag: &mut Diagnostics) {
    if d.is_zero() {
        diag.error(
            at.span(keys),
            format!("`{}` must be greater than zero", at.name(keys)),
        );
    }
}

fn header_name(name: &str, at: &At<'_, '_>, keys: &[&str], diag: &mut Diagnostics) {
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        diag.error(
            at.span(keys),
            format!(
                "`{}`: {name:?} is not a valid HTTP header name",
                at.name(keys)
            ),
        );
    }
}

fn one_of(value: &str, allowed: &[&str], at: &At<'_, '_>, keys: &[&str], diag: &mut Diagnostics) {
    if !allowed.contains(&value) {
        diag.error(
            at.span(keys),
            format!(
                "`{}`: unknown value {value:?}; expected one of: {}",
                at.name(keys),
                allowed.join(", ")
            ),
        );
    }
}

fn fraction(v: f64, at: &At<'_, '_>, keys: &[&str], diag: &mut Diagnostics) {
    if !(0.0..=1.0).contains(&v) {
        diag.error(
            at.span(keys),
            format!(
                "`{}` must be between 0 and 1 (or a percentage such as \"50%\"), found {v}",
                at.name(keys)
            ),
        );
    }
}

fn not_empty_secret(secret: &SecretString, span: Range<usize>, what: &str, diag: &mut Diagnostics) {
    if secret.expose_secret().trim().is_empty() {
        diag.error(span, format!("{what} must not be empty"));
    }
}

impl Validate for ServerConfig {
    fn validate(&mut self, at: &At<'_, '_>, diag: &mut Diagnostics) {
        if let Some(url) = &self.public_url {
            check_http_url(url, at.span(&["public_url"]), "`server.public_url`", diag);
        }
        if self.max_request_body.as_u64() == 0 {
            diag.error(
                at.span(&["max_request_body"]),
                "`server.max_request_body` must be greater than zero",
            );
        }
        if let Some(key) = &self.admin_key {
            not_empty_secret(key, at.span(&["admin_key"]), "`server.admin_key`", diag);
        }
    }
}

impl Validate for StorageConfig {
    fn validate(&mut self, at: &At<'_, '_>, diag: &mut Diagnostics) {
        let url = self.url.as_str();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            diag.error(
                at.span(&["url"]),
                format!(
                    "unsupported storage url {url:?}: expected sqlite://PATH, sqlite::memory: or \
                     postgres://USER@HOST/DB"
                ),
            );
        }
    }
}

impl Validate for LocksConfig {
    fn validate(&mut self, at: &At<'_, '_>, diag: &mut Diagnostics) {
        let url = self.url.as_str();
        if !(url == "local" || url.starts_with("redis://") || url.starts_with("rediss://")) {
            diag.error(
                at.span(&["url"]),
                format!("unsupported locks url {url:?}: expected \"local\" or redis://HOST:PORT"),
            );
        }
    }
}

impl Validate for KeysConfig {
    fn validate(&mut self, at: &At<'_, '_>, diag: &mut Diagnostics) {
        match self.provider {
            KeyProvider::File => {
                if self.env.is_some() {
                    diag.error(
                        at.key_span(&["env"]),
                        "`keys.env` applies only to provider = \"env\"",
                    );
                }
                if self.path.is_none() {
                    self.path = Some(DEFAULT_KEY_PATH.into());
                }
            }
            KeyProvider::Env => {
                if self.path.is_some() {
                    diag.error(
                        at.key_span(&["path"]),
                        "`keys.path` applies only to provider = \"file\"",
                    );
                }
                let var = self.env.get_or_insert_with(|| DEFAULT_KEY_ENV.to_owned());
                if var.is_empty() || var.contains(['=', '\0']) {
                    diag.error(at.span(&["env"]), format!("invalid variable name {var:?}"));
                }
            }
        }
    }
}

impl Validate for ClaimCheckConfig {
    fn validate(&mut self, at: &At<'_, '_>, diag: &mut Diagnostics) {
        let url = self.url.as_str();
        if !(url.starts_with("file://") || url.starts_with("memory://") || url.starts_with("s3://"))
        {
            diag.error(
                at.span(&["url"]),
                format!(
                    "unsupported claim_check url {url:?}: expected file://DIR, memory:// or \
                     s3://BUCKET/PREFIX"
                ),
            );
        }
        if self.inline_limit.as_u64() == 0 {
            diag.error(
                at.span(&["inline_limit"]),
                "`claim_check.inline_limit` must be greater than zero",
            );
        }
        positive(self.ttl, at, &["ttl"], diag);
    }
}

impl Validate for LoggingConfig {
    fn validate(&mut self, at: &At<'_, '_>, diag: &mut Diagnostics) {
        if !self.body_sample_rate.is_finite() || !(0.0..=1.0).contains(&self.body_sample_rate) {
            diag.error(
                at.span(&["body_sample_rate"]),
                format!(
                    "`logging.body_sample_rate` must be between 0 and 1, found {}",
                    self.body_sample_rate
                ),
            );
        }
        if let Some(retention) = self.retention {
            positive(retention, at, &["retention"], diag);
        }
        for (i, h) in self.redact_headers.iter_mut().enumerate() {
            if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                diag.error(
                    at.item_span(&["redact_headers"], i),
                    format!("{h:?} is not a valid HTTP header name"),
                );
            }
            h.make_ascii_lowercase();
        }
        for (i, f) in self.redact_fields.iter().enumerate() {
            if f.is_empty() {
                diag.error(at.item_span(&["redact_fields"], i), "empty field name");
            }
        }
        if let Some(endpoint) = &self.otlp_endpoint {
            check_http_url(
                endpoint,
                at.span(&["otlp_endpoint"]),
                "`logging.otlp_endpoint`",
                diag,
            );
        }
    }
}

impl Validate for EventsConfig {
    fn validate(&mut self, at: &At<'_, '_>, diag: &mut Diagnostics) {
        if self.retry_schedule.is_empty() {
            diag.error(
                at.span(&["retry_schedule"]),
                "`events.retry_schedule` needs at least one delay (the first attempt, e.g. \"0s\")",
            );
        }
        positive(self.delivery_timeout, at, &["delivery_timeout"], diag);
        // Over 24h is allowed: the audit reports it as a finding, `check` does not reject it.
        positive(self.dead_letter_ttl, at, &["dead_letter_ttl"], diag);
    }
}

impl Validate for AuditConfig {
    fn validate(&mut self, at: &At<'_, '_>, diag: &mut Diagnostics) {
        if let Some(t) = self.target_availability
            && !(t > 0.0 && t <= 100.0)
        {
            diag.error(
                at.span(&["target_availability"]),
                format!("`audit.target_availability` is a percentage in (0, 100], found {t}"),
            );
        }
        if self.instances == Some(0) {
            diag.error(
                at.span(&["instances"]),
                "`audit.instances` must be at least 1",
            );
        }
        if let Some(rotation) = self.credential_rotation {
            positive(rotation, at, &["credential_rotation"], diag);
        }
    }
}

impl Validate for EnvironmentConfig {
    fn validate(&mut self, at: &At<'_, '_>, diag: &mut Diagnostics) {
        if self.api_keys.is_empty() {
            diag.error(
                at.span(&["api_keys"]),
                format!(
                    "environment `{}` needs at least one entry in api_keys (callers authenticate with it)",
                    at.path.last().copied().unwrap_or_default()
                ),
            );
        }
        for (i, key) in self.api_keys.iter().enumerate() {
            not_empty_secret(key, at.item_span(&["api_keys"], i), "an api key", diag);
        }
        if let Some(url) = &self.webhook_url {
            check_http_url(url, at.span(&["webhook_url"]), "`webhook_url`", diag);
        }
        if let Some(secret) = &self.webhook_secret {
            not_empty_secret(
                secret,
                at.span(&["webhook_secret"]),
                "`webhook_secret`",
                diag,
            );
        }
        for (i, secret) in self.webhook_secrets.iter().enumerate() {
            not_empty_secret(
                secret,
                at.item_span(&["webhook_secrets"], i),
                "a webhook secret",
                diag,
            );
        }
    }
}

impl Validate for ConnectorConfig {
    fn validate(&mut self, at: &At<'_, '_>, diag: &mut Diagnostics) {
        check_http_url(&self.base_url, at.span(&["base_url"]), "`base_url`", diag);
        positive(self.timeout, at, &["timeout"], diag);
        if let Some(attempt) = self.attempt_timeout {
            positive(attempt, at, &["attempt_timeout"], diag);
            if attempt > self.timeout {
                diag.error(
                    at.span(&["attempt_timeout"]),
                    format!(
                        "`attempt_timeout` ({}) is longer than `timeout` ({}), the deadline of the whole call",
                        crate::format_duration(attempt),
                        crate::format_duration(self.timeout)
                    ),
                );
            }
        }
        if let Some(idle) = self.body_idle_timeout {
            positive(idle, at, &["body_idle_timeout"], diag);
        }
        if self.concurrency == Some(0) {
            diag.error(
                at.span(&["concurrency"]),
                "`concurrency` must be at least 1",
            );
        }
        if let Some(h) = &self.request_id_header {
            header_name(h, at, &["request_id_header"], diag);
        }
        validate_auth(&self.auth, at, diag);
        if let Some(b) = &self.breaker {
            validate_breaker(b, at, diag);
        }
        if let Some(r) = &mut self.retry {
            if r.max_attempts == 0 {
                diag.error(
                    at.span(&["retry", "max_attempts"]),
                    "`retry.max_attempts` counts the first attempt: it must be at least 1",
                );
            }
            for (i, on) in r.on.iter().enumerate() {
                if let Err(problem) = retry_condition_problem(on) {
                    diag.error(at.item_span(&["retry", "on"], i), problem);
                }
            }
            if !r.budget_percent.is_finite() || r.budget_percent < 0.0 {
                diag.error(
                    at.span(&["retry", "budget_percent"]),
                    "`retry.budget_percent` must be zero or more",
                );
            }
            if r.backoff_base > r.backoff_max {
                diag.error(
                    at.span(&["retry", "backoff_base"]),
                    "`retry.backoff_base` is larger than `retry.backoff_max`",
                );
            }
        }
        if let Some(i) = &mut self.idempotency {
            if let Some(h) = &i.header {
                header_name(h, at, &["idempotency", "header"], diag);
            }
            for (n, m) in i.methods.iter_mut().enumerate() {
                m.make_ascii_uppercase();
                if http::Method::from_bytes(m.as_bytes()).is_err() {
                    diag.error(
                        at.item_span(&["idempotency", "methods"], n),
                        format!("{m:?} is not an HTTP method"),
                    );
                }
            }
        }
        if let Some(rl) = &self.rate_limit {
            for (key, value) in [
                ("limit", &rl.limit),
                ("remaining", &rl.remaining),
                ("reset", &rl.reset),
            ] {
                if let Some(h) = value {
                    header_name(h, at, &["rate_limit", key], diag);
                }
            }
            if let Some(unit) = &rl.reset_unit {
                let normalized = unit.trim().to_ascii_lowercase().replace('-', "_");
                if !RESET_UNITS.contains(&normalized.as_str()) {
                    diag.error(
                        at.span(&["rate_limit", "reset_unit"]),
                        format!(
                            "`{}`: unknown value {unit:?}; expected one of: seconds, ms, \
                             epoch_seconds, epoch_ms, window, window_ms, iso8601, http_date, auto",
                            at.name(&["rate_limit", "reset_unit"])
                        ),
                    );
                }
            }
            if let Some(local) = &rl.local
                && let Err(problem) = parse_quota(local)
            {
                diag.error(at.span(&["rate_limit", "local"]), problem);
            }
            if let Some(scope) = &rl.local_scope {
                one_of(
                    scope,
                    &["connector", "account"],
                    at,
                    &["rate_limit", "local_scope"],
                    diag,
                );
            }
            if let Some(w) = rl.window {
                positive(w, at, &["rate_limit", "window"], diag);
            }
        }
        if let Some(e) = &self.errors {
            for (i, s) in e.rate_limited_statuses.iter().enumerate() {
                if !(400..=599).contains(s) {
                    diag.error(
                        at.item_span(&["errors", "rate_limited_statuses"], i),
                        format!("{s} is not an HTTP error status (400-599)"),
                    );
                }
            }
        }
        if let Some(sla) = &self.sla
            && let Some(uptime) = &sla.uptime
            && uptime != "unknown"
            && sla.uptime_percent().is_none()
        {
            diag.error(
                at.span(&["sla", "uptime"]),
                format!("`sla.uptime` {uptime:?}: expected a percentage such as \"99.95%\", or \"unknown\""),
            );
        }
        if let Some(w) = &self.webhooks {
            if let Some(t) = w.tolerance {
                positive(t, at, &["webhooks", "tolerance"], diag);
            }
            if let Some(d) = w.dedup_window {
                positive(d, at, &["webhooks", "dedup_window"], diag);
            }
            if w.max_body.is_some_and(|b| b.as_u64() == 0) {
                diag.error(
                    at.span(&["webhooks", "max_body"]),
                    "`webhooks.max_body` must be greater than zero",
                );
            }
            for secret in w.all_secrets() {
                not_empty_secret(secret, at.span(&["webhooks"]), "a webhook secret", diag);
            }
        }
        if let Some(r) = &mut self.reconcile {
            r.request.method.make_ascii_uppercase();
            if http::Method::from_bytes(r.request.method.as_bytes()).is_err() {
                diag.error(
                    at.span(&["reconcile", "request", "method"]),
                    format!("{:?} is not an HTTP method", r.request.method),
                );
            }
            if !r.request.path.starts_with('/') {
                diag.error(
                    at.span(&["reconcile", "request", "path"]),
                    "`reconcile.request.path` must start with `/` (it is appended to base_url)",
                );
            }
            one_of(
                &r.since_format,
                &["rfc3339", "unix", "unix_ms"],
                at,
                &["reconcile", "since_format"],
                diag,
            );
            positive(
                r.initial_lookback,
                at,
                &["reconcile", "initial_lookback"],
                diag,
            );
            if let Some(every) = r.every {
                positive(every, at, &["reconcile", "every"], diag);
            }
            if r.every.is_some() && r.cron.is_some() {
                diag.error(
                    at.key_span(&["reconcile", "cron"]),
                    "set either `reconcile.every` or `reconcile.cron`, not both",
                );
            }
            if r.page_size == Some(0) {
                diag.error(
                    at.span(&["reconcile", "page_size"]),
                    "`page_size` must be at least 1",
                );
            }
        }
        if let Some(l) = &self.logging
            && l.body == Some(BodyLogging::Allowlist)
            && l.fields.is_empty()
        {
            diag.error(
                at.span(&["logging", "fields"]),
                "`logging.body = \"allowlist\"` needs `logging.fields`: the JSON keys that may be logged",
            );
        }
    }
}

fn validate_auth(auth: &AuthConfig, at: &At<'_, '_>, diag: &mut Diagnostics) {
    match auth {
        AuthConfig::OAuth2(o) => {
            if o.client_id.trim().is_empty() {
                diag.error(
                    at.span(&["auth", "client_id"]),
                    "`auth.client_id` must not be empty",
                );
            }
            not_empty_secret(
                &o.client_secret,
                at.span(&["auth", "client_secret"]),
                "`auth.client_secret`",
                diag,
            );
            check_http_url(
                &o.token_url,
                at.span(&["auth", "token_url"]),
                "`auth.token_url`",
                diag,
            );
            if let Some(url) = &o.authorize_url {
                check_http_url(
                    url,
                    at.span(&["auth", "authorize_url"]),
                    "`auth.authorize_url`",
                    diag,
                );
            }
            if let Some(ta) = &o.token_auth {
                one_of(ta, &["body", "basic"], at, &["auth", "token_auth"], diag);
            }
            if o.refresh_before[0] > o.refresh_before[1] {
                diag.error(
                    at.span(&["auth", "refresh_before"]),
                    "`auth.refresh_before` is [min, max]: the first must not exceed the second",
                );
            }
        }
        AuthConfig::ApiKey(k) => {
            if k.header.is_some() && k.query.is_some() {
                diag.error(
                    at.span(&["auth"]),
                    "`auth`: set either `header` or `query` for an api_key, not both",
                );
            }
            if let Some(h) = &k.header {
                header_name(h, at, &["auth", "header"], diag);
            }
        }
        AuthConfig::Basic | AuthConfig::None => {}
    }
}

fn validate_breaker(b: &BreakerConfig, at: &At<'_, '_>, diag: &mut Diagnostics) {
    let key = |k: &'static str| ["breaker", k];
    if b.consecutive_failures == Some(0) {
        diag.error(
            at.span(&key("consecutive_failures")),
            "`breaker.consecutive_failures` must be at least 1",
        );
    }
    if let Some(r) = b.failure_rate {
        fraction(r, at, &key("failure_rate"), diag);
    }
    if let Some(r) = b.slow_call_rate {
        fraction(r, at, &key("slow_call_rate"), diag);
    }
    match b.window {
        Some(WindowConfig::Calls(0)) => diag.error(
            at.span(&key("window_calls")),
            "`breaker.window_calls` must be at least 1",
        ),
        Some(WindowConfig::Time(d)) => positive(d, at, &key("window"), diag),
        _ => {}
    }
    if b.min_calls == 0 {
        diag.error(
            at.span(&key("min_calls")),
            "`breaker.min_calls` must be at least 1",
        );
    }
    if let Some(d) = b.slow_call_duration {
        positive(d, at, &key("slow_call_duration"), diag);
    }
    positive(b.open_for, at, &key("open_for"), diag);
    if let Some(max) = b.max_open_for
        && max < b.open_for
    {
        diag.error(
            at.span(&key("max_open_for")),
            "`breaker.max_open_for` is shorter than `breaker.open_for`",
        );
    }
    if b.half_open_probes == 0 {
        diag.error(
            at.span(&key("half_open_probes")),
            "`breaker.half_open_probes` must be at least 1",
        );
    }
    for (i, s) in b.failure_statuses.iter().flatten().enumerate() {
        let span = at.item_span(&key("failure_statuses"), i);
        if *s == 429 {
            diag.error(
                span,
                "429 never counts as a breaker failure: the caller owns rate-limit backoff",
            );
        } else if !(500..=599).contains(s) {
            diag.error(
                span,
                format!("{s} is not a 5xx status: 4xx answers never count as upstream failures"),
            );
        }
    }
}

/// Whether `on` names something the retry layer can retry.
fn retry_condition_problem(on: &str) -> Result<(), String> {
    match on {
        "connect" | "reset" | "timeout" => Ok(()),
        "429" => {
            Err("429 is never retried by the gateway: the caller owns rate-limit backoff".into())
        }
        status => match status.parse::<u16>() {
            Ok(500..=599) => Ok(()),
            Ok(_) => Err(format!(
                "retrying on status {status} is not allowed: only 5xx statuses are retryable"
            )),
            Err(_) => Err(format!(
                "unknown retry condition {status:?}; expected connect, reset, timeout or a status \
                 such as \"503\""
            )),
        },
    }
}

/// Checks across sections: an api key must identify exactly one environment.
pub(crate) fn cross_checks(
    sections: &Sections,
    audit: Option<&Spanned<DeValue<'_>>>,
    diag: &mut Diagnostics,
) {
    // `[audit.features]` may only name configured connectors.
    if let (Some(parsed), Some(audit), Some(connectors)) =
        (&sections.audit, audit, &sections.connectors)
    {
        let at = At::new(audit, &["audit"]);
        for (feature, members) in &parsed.features {
            for (i, member) in members.iter().enumerate() {
                if !connectors.contains_key(member) {
                    diag.error(
                        at.item_span(&["features", feature.as_str()], i),
                        format!(
                            "`audit.features.{feature}` names `{member}`, which is not a \
                             configured connector"
                        ),
                    );
                }
            }
        }
    }
    let Some(environments) = &sections.environments else {
        return;
    };
    let mut seen: Vec<(&str, &SecretString)> = Vec::new();
    for (name, (env, spans)) in environments {
        for (i, key) in env.api_keys.iter().enumerate() {
            if key.expose_secret().is_empty() {
                continue;
            }
            if let Some((owner, _)) = seen
                .iter()
                .find(|(_, k)| k.expose_secret() == key.expose_secret())
            {
                let span = spans.get(i).cloned().unwrap_or(0..0);
                diag.error(
                    span,
                    format!(
                        "this api key is already used by environment `{owner}`; each key must \
                         identify exactly one environment"
                    ),
                );
            } else {
                seen.push((name, key));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(http_url_problem("https://api.hubapi.com").is_ok());
        assert!(http_url_problem("http://127.0.0.1:9000/base/").is_ok());
        for bad in [
            "",
            "api.hubapi.com",
            "/relative",
            "ftp://x",
            "https://",
            "https:///x",
        ] {
            assert!(http_url_problem(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retry_conditions() {
        for ok in ["connect", "reset", "timeout", "502", "503", "504", "500"] {
            assert!(retry_condition_problem(ok).is_ok(), "{ok}");
        }
        assert!(
            retry_condition_problem("429")
                .unwrap_err()
                .contains("never retried")
        );
        assert!(retry_condition_problem("404").is_err());
        assert!(retry_condition_problem("408").is_err());
        assert!(retry_condition_problem("sometimes").is_err());
    }

    #[test]
    fn names() {
        assert_eq!(name_problem("hub-spot_2"), None);
        assert!(name_problem("").is_some());
        assert!(name_problem("a/b").is_some());
        assert!(name_problem("a b").is_some());
    }
}
