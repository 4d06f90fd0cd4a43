//! Section 3, logging: what the boundary log captures, what is redacted, which connectors log
//! bodies only through an allow-list, how requests are correlated, how long logs are kept
//! (configured and observed), and where they go.

use std::time::Duration;

use serde::Serialize;
use tidegate_config::{BodyLogging, Config, ConnectorConfig};

use super::dur;
use crate::findings::{Findings, ids};
use crate::live::LiveState;

/// Retention above this is a finding.
pub const MAX_LOG_RETENTION: Duration = Duration::from_secs(90 * 86_400);

/// Headers that must always be redacted.
pub const SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "proxy-authorization",
];

/// The logging section.
#[derive(Debug, Clone, Serialize)]
pub struct LoggingSection {
    /// `file PATH` or `stdout`.
    pub sink: String,
    pub retention: String,
    /// What the log directory shows (oldest file age), when probed.
    pub retention_observed: String,
    /// Fields of each boundary-log line.
    pub captured: Vec<String>,
    pub body_sample_rate: f64,
    /// Error-response bodies are logged (redacted) whatever the sample rate.
    pub error_bodies_logged: bool,
    pub redact_headers: Vec<String>,
    pub redact_fields: Vec<String>,
    /// Values redacted by pattern wherever they appear in a logged body.
    pub pattern_redaction: Vec<String>,
    /// Never logged in any form, not even a prefix.
    pub never_logged: Vec<String>,
    pub correlation_ids: Vec<String>,
    pub connectors: Vec<ConnectorLogging>,
}

/// Per-connector body logging.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectorLogging {
    pub connector: String,
    pub category: Option<String>,
    /// HRIS or payroll data (from `category` or `logging.hris`).
    pub sensitive_category: bool,
    /// `redacted`, `allowlist` or `none`.
    pub body: String,
    pub allowlist: Vec<String>,
    pub upstream_request_id_header: Option<String>,
}

/// Whether a connector carries HR or payroll data.
pub fn is_hris(c: &ConnectorConfig) -> bool {
    let by_category = c
        .category
        .as_deref()
        .is_some_and(|k| matches!(k.to_ascii_lowercase().as_str(), "hris" | "payroll" | "hr"));
    by_category || c.logging.as_ref().and_then(|l| l.hris).unwrap_or(false)
}

fn body_mode(c: &ConnectorConfig) -> BodyLogging {
    c.logging
        .as_ref()
        .and_then(|l| l.body)
        .unwrap_or(BodyLogging::Redacted)
}

pub(super) fn build(config: &Config, live: &LiveState, findings: &mut Findings) -> LoggingSection {
    let lg = &config.logging;
    let retention_observed = match (live.logs.oldest_age_days, &live.logs.detail) {
        (Some(days), _) => format!(
            "{} boundary-log file(s); the oldest is {days} day(s) old",
            live.logs.files
        ),
        (None, Some(d)) => d.clone(),
        (None, None) => "no boundary-log file yet".into(),
    };

    let connectors: Vec<ConnectorLogging> = config
        .connectors
        .iter()
        .map(|(name, c)| ConnectorLogging {
            connector: name.clone(),
            category: c.category.clone(),
            sensitive_category: is_hris(c),
            body: match body_mode(c) {
                BodyLogging::Redacted => "redacted",
                BodyLogging::Allowlist => "allowlist",
                BodyLogging::None => "none",
            }
            .into(),
            allowlist: c
                .logging
                .as_ref()
                .map(|l| l.fields.clone())
                .unwrap_or_default(),
            upstream_request_id_header: c.request_id_header.clone(),
        })
        .collect();

    let mut correlation = vec![
        "request_id: the caller's X-Request-Id (kept as given) or a generated UUIDv7, echoed on \
         the response, in problems and in events"
            .to_owned(),
        "environment_id and integrated_account_id of the caller".into(),
        "attempt number, so retries of one request share its request_id".into(),
    ];
    let upstream_ids: Vec<String> = connectors
        .iter()
        .filter_map(|c| {
            c.upstream_request_id_header
                .as_ref()
                .map(|h| format!("{}: {h}", c.connector))
        })
        .collect();
    if !upstream_ids.is_empty() {
        correlation.push(format!(
            "upstream_request_id from the provider's header ({})",
            upstream_ids.join(", ")
        ));
    }

    logging_findings(config, live, findings);

    LoggingSection {
        sink: lg
            .file
            .as_ref()
            .map_or_else(|| "stdout".to_owned(), |p| format!("file {}", p.display())),
        retention: lg.retention.map_or_else(|| "forever".to_owned(), dur),
        retention_observed,
        captured: [
            "timestamp",
            "request_id",
            "environment_id",
            "integrated_account_id",
            "connector",
            "attempt",
            "request.method",
            "request.url",
            "request.headers (sensitive values replaced by [REDACTED])",
            "request.headers_redacted",
            "response.status",
            "response.latency_ms",
            "response.ratelimit_remaining / ratelimit_reset",
            "response.upstream_request_id",
            "response.body (sampled exchanges and error responses only, redacted)",
            "outcome",
        ]
        .map(String::from)
        .to_vec(),
        body_sample_rate: lg.body_sample_rate,
        error_bodies_logged: true,
        redact_headers: lg.redact_headers.clone(),
        redact_fields: lg.redact_fields.clone(),
        pattern_redaction: ["email addresses", "bearer tokens", "card numbers"]
            .map(String::from)
            .to_vec(),
        never_logged: [
            "access tokens",
            "refresh tokens",
            "client secrets",
            "api keys",
            "webhook secrets",
        ]
        .map(String::from)
        .to_vec(),
        correlation_ids: correlation,
        connectors,
    }
}

fn logging_findings(config: &Config, live: &LiveState, findings: &mut Findings) {
    let lg = &config.logging;
    match lg.retention {
        None => findings.push(
            ids::LOG_RETENTION_UNSET,
            "logging.retention",
            "boundary logs are never deleted (retention = \"forever\")",
            "Set logging.retention to at most \"90d\" (default \"30d\").",
        ),
        Some(r) if r > MAX_LOG_RETENTION => findings.push(
            ids::LOG_RETENTION_LONG,
            "logging.retention",
            format!("boundary logs are kept for {}, over 90 days", dur(r)),
            "Set logging.retention to at most \"90d\" (default \"30d\").",
        ),
        Some(_) => {}
    }
    if lg.file.is_none() {
        findings.push(
            ids::LOG_STDOUT,
            "logging.file",
            "the boundary log goes to stdout: tidegate cannot apply logging.retention; the log \
             collector's retention applies",
            "Set logging.file, or document the collector's retention (at most 90 days) in the \
             questionnaire.",
        );
    }
    if let (Some(retention), Some(oldest)) = (lg.retention, live.logs.oldest_age_days) {
        let allowed_days = retention.as_secs().div_ceil(86_400) + 1;
        if oldest > allowed_days {
            findings.push(
                ids::LOG_RETENTION_NOT_APPLIED,
                "logging.retention",
                format!(
                    "the oldest boundary-log file is {oldest} days old, beyond the {} retention",
                    dur(retention)
                ),
                "Retention is applied by `serve` at startup and at each daily rotation: check \
                 that serve runs with this config, and delete files copied there by hand.",
            );
        }
    }
    if lg.redact_fields.is_empty() {
        if lg.body_sample_rate > 0.0 {
            findings.push(
                ids::LOG_BODY_UNREDACTED,
                "logging.redact_fields",
                format!(
                    "{} of bodies are logged but redact_fields is empty: only pattern \
                     redaction (emails, tokens, card numbers) applies",
                    (lg.body_sample_rate * 100.0).to_string() + "%"
                ),
                "Restore redact_fields (default: email, ssn, phone, password, access_token, \
                 refresh_token, client_secret) and add the personal-data keys of your providers, \
                 or set body_sample_rate = 0.",
            );
        } else {
            findings.push(
                ids::LOG_ERROR_BODY_UNREDACTED,
                "logging.redact_fields",
                "redact_fields is empty: error-response bodies are logged with pattern \
                 redaction only",
                "Restore redact_fields (default: email, ssn, phone, password, access_token, \
                 refresh_token, client_secret).",
            );
        }
    }
    let missing: Vec<&str> = SENSITIVE_HEADERS
        .iter()
        .copied()
        .filter(|h| !lg.redact_headers.iter().any(|r| r.eq_ignore_ascii_case(h)))
        .collect();
    if !missing.is_empty() {
        findings.push(
            ids::LOG_HEADERS_NOT_REDACTED,
            "logging.redact_headers",
            format!(
                "redact_headers does not list {}: those header values would be logged",
                missing.join(", ")
            ),
            format!("Add {} to logging.redact_headers.", missing.join(", ")),
        );
    }
    for (name, c) in &config.connectors {
        if is_hris(c) && body_mode(c) == BodyLogging::Redacted {
            findings.push(
                ids::HRIS_ALLOWLIST_MISSING,
                format!("connectors.{name}.logging.body"),
                format!(
                    "{name} carries {} data but its bodies are logged by deny-list redaction \
                     (error responses always, plus sampled exchanges): any field not in \
                     redact_fields is logged",
                    c.category.as_deref().unwrap_or("HRIS")
                ),
                format!(
                    "Set connectors.{name}.logging = {{ body = \"allowlist\", fields = [\"id\", \
                     \"status\", ...] }} (only non-personal keys), or body = \"none\"."
                ),
            );
        }
    }
}
