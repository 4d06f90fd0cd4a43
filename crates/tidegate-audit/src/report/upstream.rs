//! Section 4, upstream SLAs and fallbacks: the vendor facts per connector (from presets or
//! config, "unknown" where unknown), the resilience policy per connector (timeout, breaker,
//! retry, idempotency, reconciliation, degradation), and the composite availability of the
//! connectors each feature depends on, against the stated target.

use std::time::Duration;

use serde::Serialize;
use tidegate_config::{Config, ConnectorConfig, WindowConfig};

use super::dur;
use crate::availability::Composite;
use crate::findings::{Findings, ids};

/// A timeout above this is a finding.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(30);

/// The upstream section.
#[derive(Debug, Clone, Serialize)]
pub struct UpstreamSection {
    pub sla: Vec<SlaRow>,
    pub resilience: Vec<ResilienceRow>,
    pub composite: Vec<Composite>,
}

/// Vendor facts for one connector.
#[derive(Debug, Clone, Serialize)]
pub struct SlaRow {
    pub connector: String,
    pub preset: Option<String>,
    pub uptime: String,
    pub rate_limit_model: String,
    /// How the provider says "rate limited": statuses and headers.
    pub limit_exceeded: String,
    pub webhook_delivery: String,
    pub breaking_change_notice: String,
    pub support_response: String,
}

/// The resilience policy of one connector.
#[derive(Debug, Clone, Serialize)]
pub struct ResilienceRow {
    pub connector: String,
    pub timeout: String,
    pub timeout_ms: u64,
    pub attempt_timeout: Option<String>,
    pub concurrency: Option<u32>,
    pub breaker: String,
    pub retry: String,
    pub idempotency: String,
    pub reconciliation: String,
    /// What callers and events see while the provider is down or limiting.
    pub degradation: String,
}

const UNKNOWN: &str = "unknown";

fn known(v: &Option<String>) -> String {
    match v.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => UNKNOWN.to_owned(),
    }
}

pub(super) fn build(config: &Config, findings: &mut Findings) -> UpstreamSection {
    let mut sla = Vec::new();
    let mut resilience = Vec::new();
    for (name, c) in &config.connectors {
        let s = c.sla.clone().unwrap_or_default();
        sla.push(SlaRow {
            connector: name.clone(),
            preset: c.preset.clone(),
            uptime: known(&s.uptime),
            rate_limit_model: known(&s.rate_limit_model),
            limit_exceeded: limit_exceeded(c),
            webhook_delivery: known(&s.webhook_delivery),
            breaking_change_notice: known(&s.breaking_change_notice),
            support_response: known(&s.support_response),
        });
        resilience.push(ResilienceRow {
            connector: name.clone(),
            timeout: dur(c.timeout),
            timeout_ms: c.timeout.as_millis() as u64,
            attempt_timeout: c.attempt_timeout.map(dur),
            concurrency: c.concurrency,
            breaker: breaker_text(c),
            retry: retry_text(c),
            idempotency: idempotency_text(c),
            reconciliation: reconcile_text(c),
            degradation: degradation_text(c),
        });
        connector_findings(name, c, findings);
    }
    let composite = composite(config, findings);
    UpstreamSection {
        sla,
        resilience,
        composite,
    }
}

fn limit_exceeded(c: &ConnectorConfig) -> String {
    let mut statuses = vec!["429".to_owned()];
    let mut extra = Vec::new();
    if let Some(e) = &c.errors {
        statuses.extend(e.rate_limited_statuses.iter().map(u16::to_string));
        if e.class.is_some() {
            extra.push("other statuses re-classified by errors.class (e.g. a 403 whose code means a limit)".to_owned());
        }
        if e.when.is_some() {
            extra.push("2xx bodies flagged by errors.when".to_owned());
        }
    }
    let headers = match &c.rate_limit {
        Some(r) if r.format.is_some() => {
            format!(
                "headers parsed as {}",
                r.format.as_deref().unwrap_or_default()
            )
        }
        Some(r) if r.limit.is_some() || r.remaining.is_some() || r.reset.is_some() => {
            let names: Vec<&str> = [&r.limit, &r.remaining, &r.reset]
                .into_iter()
                .filter_map(|h| h.as_deref())
                .collect();
            format!(
                "headers {}{}",
                names.join(" / "),
                r.reset_unit
                    .as_deref()
                    .map(|u| format!(" (reset as {u})"))
                    .unwrap_or_default()
            )
        }
        _ => "no mapped headers (standard RateLimit / X-RateLimit forms detected automatically)"
            .to_owned(),
    };
    let mut out = format!("status {}; {headers}", statuses.join("/"));
    if !extra.is_empty() {
        out.push_str("; ");
        out.push_str(&extra.join("; "));
    }
    out
}

fn breaker_text(c: &ConnectorConfig) -> String {
    let Some(b) = &c.breaker else {
        return "none".into();
    };
    let mut trips = Vec::new();
    if let Some(n) = b.consecutive_failures {
        trips.push(format!("{n} consecutive failures"));
    }
    if let Some(r) = b.failure_rate {
        let window = match b.window {
            Some(WindowConfig::Calls(n)) => format!("last {n} calls"),
            Some(WindowConfig::Time(d)) => format!("last {}", dur(d)),
            None => "window".into(),
        };
        trips.push(format!(
            "{:.0}% failures over the {window} (min {} calls)",
            r * 100.0,
            b.min_calls
        ));
    }
    if let (Some(r), Some(d)) = (b.slow_call_rate, b.slow_call_duration) {
        trips.push(format!("{:.0}% of calls slower than {}", r * 100.0, dur(d)));
    }
    if trips.is_empty() {
        return "configured without a trip condition (never opens)".into();
    }
    format!(
        "opens on {}; open for {}{}; {} half-open probe(s); per {}; 429s never count",
        trips.join(" or "),
        dur(b.open_for),
        b.max_open_for
            .map(|m| format!(" (growing to {})", dur(m)))
            .unwrap_or_default(),
        b.half_open_probes,
        match b.scope {
            tidegate_config::BreakerScope::Connector => "connector",
            tidegate_config::BreakerScope::Account => "account",
        }
    )
}

fn retry_text(c: &ConnectorConfig) -> String {
    match &c.retry {
        None => "none".into(),
        Some(r) if r.max_attempts <= 1 => "none (max_attempts = 1)".into(),
        Some(r) => format!(
            "up to {} attempts on {}; backoff {}..{}; budget {}% of first attempts; never on 429",
            r.max_attempts,
            r.on.join(", "),
            dur(r.backoff_base),
            dur(r.backoff_max),
            r.budget_percent
        ),
    }
}

fn idempotency_text(c: &ConnectorConfig) -> String {
    match &c.idempotency {
        Some(i) => match &i.header {
            Some(h) => format!(
                "caller's Idempotency-Key forwarded as {h} on {}",
                i.methods.join(", ")
            ),
            None => {
                "provider has no idempotency key: non-idempotent requests are not retried once sent"
                    .into()
            }
        },
        None => "not configured".into(),
    }
}

fn reconcile_text(c: &ConnectorConfig) -> String {
    match &c.reconcile {
        Some(r) => format!(
            "polls {} {} for `{}` {} (overlap {})",
            r.request.method,
            r.request.path,
            r.object,
            r.every
                .map(|e| format!("every {}", dur(e)))
                .or_else(|| r.cron.as_ref().map(|c| format!("on cron {c}")))
                .unwrap_or_else(|| "on demand (tidegate reconcile)".into()),
            dur(r.overlap)
        ),
        None => "none".into(),
    }
}

fn degradation_text(c: &ConnectorConfig) -> String {
    let mut parts = Vec::new();
    match &c.breaker {
        Some(b) => parts.push(format!(
            "fails fast with 503 circuit_open + Retry-After while the breaker is open ({})",
            dur(b.open_for)
        )),
        None => parts.push(format!(
            "no breaker: every call waits up to {} and ends in 504/502",
            dur(c.timeout)
        )),
    }
    parts.push("429s pass through with normalized RateLimit headers".into());
    if c.auth.oauth2().is_some() {
        parts.push("revoked grants answer 424 needs_reauth and emit account.needs_reauth".into());
    }
    let webhooks = c.webhooks.as_ref().is_some_and(|w| w.verify.is_some());
    match (webhooks, c.reconcile.is_some()) {
        (true, true) => {
            parts.push("webhooks missed during an outage are recovered by reconciliation".into())
        }
        (true, false) => parts
            .push("webhooks missed during an outage are NOT recovered (no reconciliation)".into()),
        (false, true) => parts.push("changes are picked up by reconciliation only".into()),
        (false, false) => {}
    }
    parts.join("; ")
}

fn connector_findings(name: &str, c: &ConnectorConfig, findings: &mut Findings) {
    if c.timeout.is_zero() {
        findings.push(
            ids::TIMEOUT_MISSING,
            format!("connectors.{name}.timeout"),
            format!("{name} has no timeout: a hung upstream holds the caller's request forever"),
            format!("Set connectors.{name}.timeout, e.g. \"15s\" (at most \"30s\")."),
        );
    } else if c.timeout > MAX_TIMEOUT {
        findings.push(
            ids::TIMEOUT_LONG,
            format!("connectors.{name}.timeout"),
            format!("the timeout of {name} is {}, over 30 s", dur(c.timeout)),
            format!(
                "Lower connectors.{name}.timeout to at most \"30s\"; move slow work (exports, \
                 reports) to the provider's async/bulk APIs."
            ),
        );
    }
    match &c.breaker {
        None => findings.push(
            ids::BREAKER_MISSING,
            format!("connectors.{name}.breaker"),
            format!("{name} has no circuit breaker: during an outage every call waits for the timeout"),
            format!(
                "Add connectors.{name}.breaker = {{ consecutive_failures = 5, open_for = \"30s\" }}."
            ),
        ),
        Some(b)
            if b.consecutive_failures.is_none()
                && b.failure_rate.is_none()
                && b.slow_call_rate.is_none() =>
        {
            findings.push(
                ids::BREAKER_NEVER_OPENS,
                format!("connectors.{name}.breaker"),
                format!("the breaker of {name} has no trip condition and can never open"),
                "Set consecutive_failures, failure_rate (with a window) or slow_call_rate.",
            )
        }
        Some(_) => {}
    }
    if let Some(r) = &c.retry
        && r.max_attempts > 1
    {
        let rate_limited: Vec<String> = std::iter::once("429".to_owned())
            .chain(
                c.errors
                    .iter()
                    .flat_map(|e| e.rate_limited_statuses.iter().map(u16::to_string)),
            )
            .collect();
        let retried: Vec<&String> = r.on.iter().filter(|o| rate_limited.contains(o)).collect();
        if !retried.is_empty() {
            findings.push(
                ids::RETRY_429,
                format!("connectors.{name}.retry.on"),
                format!(
                    "{name} retries rate-limited responses ({}): retries burn the caller's quota \
                     and hide the limit from the caller, who owns backoff",
                    retried
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                format!(
                    "Remove {} from connectors.{name}.retry.on.",
                    retried
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        let after_send = r.on.iter().any(|o| o != "connect");
        let post_covered = c.idempotency.as_ref().is_some_and(|i| {
            i.header.is_some() && i.methods.iter().any(|m| m.eq_ignore_ascii_case("POST"))
        });
        if after_send && !post_covered {
            findings.push(
                ids::RETRY_POST_NO_IDEMPOTENCY,
                format!("connectors.{name}.retry"),
                format!(
                    "{name} retries failures that can happen after a request was sent ({}) but \
                     POST has no idempotency header: a retried POST may create a duplicate",
                    r.on.iter().filter(|o| *o != "connect").cloned().collect::<Vec<_>>().join(", ")
                ),
                format!(
                    "Set connectors.{name}.idempotency = {{ header = \"Idempotency-Key\", methods = \
                     [\"POST\", \"PATCH\"] }} if the provider supports one; otherwise limit \
                     retry.on to [\"connect\"]."
                ),
            );
        }
    }
}

fn composite(config: &Config, findings: &mut Findings) -> Vec<Composite> {
    let target = config.audit.target_availability;
    let uptime = |name: &str| {
        config
            .connectors
            .get(name)
            .and_then(|c| c.sla.as_ref())
            .and_then(|s| s.uptime_percent())
    };
    let groups: Vec<(String, Vec<String>, bool)> = if config.audit.features.is_empty() {
        if config.connectors.is_empty() {
            Vec::new()
        } else {
            vec![(
                "all connectors".to_owned(),
                config.connectors.keys().cloned().collect(),
                false,
            )]
        }
    } else {
        config
            .audit
            .features
            .iter()
            .map(|(f, cs)| (f.clone(), cs.clone(), true))
            .collect()
    };

    for (name, c) in &config.connectors {
        if c.sla.as_ref().and_then(|s| s.uptime_percent()).is_none() {
            findings.push(
                ids::SLA_UNKNOWN,
                format!("connectors.{name}.sla.uptime"),
                format!(
                    "the uptime SLA of {name} is unknown; the composite availability leaves it \
                     out (the real figure is lower)"
                ),
                format!(
                    "Set connectors.{name}.sla.uptime from the vendor's contract (e.g. \"99.9%\"); \
                     while it is unknown this finding stays."
                ),
            );
        }
    }
    if target.is_none() && !config.connectors.is_empty() {
        findings.push(
            ids::AVAILABILITY_NO_TARGET,
            "audit.target_availability",
            "no availability target is stated, so the composite availability is not judged",
            "Set [audit] target_availability = \"99.9%\" (your own SLA to customers).",
        );
    }

    let mut out = Vec::new();
    for (feature, members, configured) in groups {
        let path = if configured {
            format!("audit.features.{feature}")
        } else {
            "audit.target_availability".to_owned()
        };
        let unknown: Vec<&String> = members
            .iter()
            .filter(|m| !config.connectors.contains_key(*m))
            .collect();
        if !unknown.is_empty() {
            findings.push(
                ids::FEATURE_UNKNOWN_CONNECTOR,
                path.clone(),
                format!(
                    "feature {feature} names connector(s) that do not exist: {}",
                    unknown
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "Use names of [connectors.*] tables.",
            );
        }
        let list: Vec<(String, Option<f64>)> = members
            .iter()
            .filter(|m| config.connectors.contains_key(*m))
            .map(|m| (m.clone(), uptime(m)))
            .collect();
        let c = Composite::compute(feature.clone(), &list, target);
        if c.meets_target == Some(false) {
            findings.push(
                ids::AVAILABILITY_BELOW_TARGET,
                path,
                format!(
                    "{feature} depends on {} connector(s) whose combined availability is {:.3}% \
                     ({:.0} min of downtime a month), below the {}% target ({:.0} min)",
                    c.connectors.len(),
                    c.composite_percent,
                    c.downtime_minutes_per_month,
                    target.unwrap_or_default(),
                    c.target_downtime_minutes_per_month.unwrap_or_default()
                ),
                "Remove hard dependencies (cache reads, queue writes, degrade the feature while one \
                 provider is down) or state a target the vendors' SLAs allow.",
            );
        }
        out.push(c);
    }
    out
}
