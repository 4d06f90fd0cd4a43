//! Rendering: JSON (the published schema, `docs/audit-report.schema.json`) and Markdown (tables
//! ready to paste into a vendor questionnaire: plain text, no ANSI codes, no HTML).

use std::fmt::Write as _;

use crate::report::Report;
use crate::trail::ChainStatus;

/// Output format of `tidegate audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "markdown" | "md" => Ok(Format::Markdown),
            "json" => Ok(Format::Json),
            other => Err(format!(
                "unknown format {other:?}: expected markdown or json"
            )),
        }
    }
}

/// Renders the report in `format`.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Json => to_json(report),
        Format::Markdown => to_markdown(report),
    }
}

/// Pretty-printed JSON with a trailing newline.
pub fn to_json(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("the report serializes");
    s.push('\n');
    s
}

/// A table cell: pipes escaped, line breaks flattened, empty shown as a dash.
fn cell(s: &str) -> String {
    let s = s.replace('|', "\\|").replace(['\n', '\r'], " ");
    if s.trim().is_empty() { "-".into() } else { s }
}

struct Table {
    out: String,
}

impl Table {
    fn new(headers: &[&str]) -> Self {
        let mut out = String::new();
        let _ = writeln!(out, "| {} |", headers.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(headers.len()));
        Self { out }
    }
    fn row(&mut self, cells: &[String]) {
        let cells: Vec<String> = cells.iter().map(|c| cell(c)).collect();
        let _ = writeln!(self.out, "| {} |", cells.join(" | "));
    }
    fn finish(self, md: &mut String) {
        md.push_str(&self.out);
        md.push('\n');
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes".into() } else { "no".into() }
}

/// Markdown for a questionnaire.
pub fn to_markdown(r: &Report) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Integration audit runbook\n");
    let _ = writeln!(
        md,
        "Generated {} by tidegate {} from {}. Every answer below is derived from the effective \
         configuration (provider presets merged) and the state the audit could read.\n",
        r.generated_at,
        r.tidegate_version,
        r.config_path
            .as_deref()
            .unwrap_or("the given configuration")
    );
    let _ = writeln!(
        md,
        "**{} connector(s), {} environment(s). Findings: {} high, {} medium, {} low.**\n",
        r.summary.connectors,
        r.summary.environments,
        r.summary.findings_high,
        r.summary.findings_medium,
        r.summary.findings_low
    );

    findings(&mut md, r);
    retention(&mut md, r);
    oauth(&mut md, r);
    logging(&mut md, r);
    upstreams(&mut md, r);
    chain(&mut md, r);
    trail(&mut md, r);
    live(&mut md, r);
    md
}

fn findings(md: &mut String, r: &Report) {
    let _ = writeln!(md, "## Findings\n");
    if r.findings.is_empty() {
        let _ = writeln!(
            md,
            "None: the configuration meets every check of the runbook.\n"
        );
        return;
    }
    let mut t = Table::new(&["ID", "Severity", "Config path", "Finding", "Fix"]);
    for f in &r.findings {
        t.row(&[
            f.id.clone(),
            f.severity.as_str().into(),
            format!("`{}`", f.path),
            f.message.clone(),
            f.fix.clone(),
        ]);
    }
    t.finish(md);
}

fn retention(md: &mut String, r: &Report) {
    let d = &r.data_retention;
    let _ = writeln!(md, "## 1. Data retention\n");
    let mut t = Table::new(&[
        "Layer",
        "Component",
        "What is kept",
        "Retention",
        "Deletion",
        "Location",
        "Encryption at rest",
    ]);
    for l in &d.layers {
        t.row(&[
            l.layer.clone(),
            l.component.clone(),
            l.kept.clone(),
            l.retention.clone(),
            l.deletion.clone(),
            l.location.clone(),
            l.encrypted.clone(),
        ]);
    }
    t.finish(md);
    let _ = writeln!(
        md,
        "- **Third-party data mirrored (warehouse or cache):** {}",
        yes_no(d.third_party_data_mirrored)
    );
    let _ = writeln!(md, "- **Where third-party data can be at rest, at most:**");
    for a in &d.third_party_data_at_rest {
        let _ = writeln!(md, "  - {a}");
    }
    let _ = writeln!(
        md,
        "- **Master key (KEK):** provider `{}`, `{}`; separate from the database: {}. {}\n",
        d.kek.provider,
        d.kek.location,
        yes_no(d.kek.separate_from_database),
        d.kek.explanation
    );
}

fn oauth(md: &mut String, r: &Report) {
    let o = &r.oauth;
    let _ = writeln!(md, "## 2. OAuth token lifecycle\n");
    let _ = writeln!(
        md,
        "- **Refresh serialization:** `{}` lock ({}); instances: {}; storage: {}. {}",
        o.serialization.lock_backend,
        o.serialization.lock_url,
        o.serialization
            .instances
            .map_or_else(|| "not stated".into(), |n| n.to_string()),
        o.serialization.storage,
        o.serialization.explanation
    );
    let _ = writeln!(md, "- **Encryption:** {}", o.encryption.algorithm);
    let _ = writeln!(
        md,
        "- **Master key:** provider `{}` ({}), key id `{}`; last rotation: {}{}",
        o.encryption.key_provider,
        o.encryption.key_location,
        o.encryption.key_id.as_deref().unwrap_or("not read"),
        o.encryption
            .last_rotation
            .as_deref()
            .unwrap_or("none recorded in the admin trail"),
        o.encryption
            .accounts_on_other_keys
            .map(|n| format!("; accounts still under an older key: {n}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        md,
        "- **Long-lived credential rotation policy:** {}",
        o.credential_rotation.as_deref().unwrap_or("not stated")
    );
    match &o.accounts_total {
        Some(c) => {
            let _ = writeln!(
                md,
                "- **Accounts:** {} active, {} needing re-authorization, {} stale (expired, not refreshed)\n",
                c.active, c.needs_reauth, c.stale
            );
        }
        None => {
            let _ = writeln!(
                md,
                "- **Accounts:** not available ({})\n",
                r.live_state
                    .accounts
                    .detail
                    .as_deref()
                    .unwrap_or("store not read")
            );
        }
    }
    if o.connectors.is_empty() {
        let _ = writeln!(md, "No connector stores credentials.\n");
        return;
    }
    let mut t = Table::new(&[
        "Connector",
        "Auth",
        "Proactive refresh (before expiry)",
        "Revocation errors (→ needs_reauth)",
        "Scopes",
        "Active",
        "Needs re-auth",
        "Stale",
    ]);
    for c in &o.connectors {
        let n = |f: fn(&crate::report::AccountCounts) -> usize| {
            c.accounts
                .as_ref()
                .map_or_else(|| "?".into(), |a| f(a).to_string())
        };
        t.row(&[
            c.connector.clone(),
            c.auth_type.clone(),
            c.refresh_before.as_ref().map_or_else(
                || "n/a (long-lived)".into(),
                |[a, b]| format!("{a}–{b}, jittered"),
            ),
            if c.revoked_errors.is_empty() {
                "n/a".into()
            } else {
                c.revoked_errors.join(", ")
            },
            c.scopes.join(" "),
            n(|a| a.active),
            n(|a| a.needs_reauth),
            n(|a| a.stale),
        ]);
    }
    t.finish(md);
}

fn logging(md: &mut String, r: &Report) {
    let l = &r.logging;
    let _ = writeln!(md, "## 3. Logging\n");
    let _ = writeln!(md, "- **Sink:** {}", l.sink);
    let _ = writeln!(
        md,
        "- **Retention:** {} (observed: {})",
        l.retention, l.retention_observed
    );
    let _ = writeln!(
        md,
        "- **Bodies:** {}% of exchanges sampled; error-response bodies: {}; always after redaction",
        l.body_sample_rate * 100.0,
        if l.error_bodies_logged {
            "logged"
        } else {
            "not logged"
        }
    );
    let _ = writeln!(
        md,
        "- **Headers redacted:** {}",
        l.redact_headers.join(", ")
    );
    let _ = writeln!(
        md,
        "- **Body fields redacted (any depth):** {}",
        l.redact_fields.join(", ")
    );
    let _ = writeln!(
        md,
        "- **Redacted by pattern:** {}",
        l.pattern_redaction.join(", ")
    );
    let _ = writeln!(
        md,
        "- **Never logged in any form:** {}",
        l.never_logged.join(", ")
    );
    let _ = writeln!(md, "- **Correlation:**");
    for c in &l.correlation_ids {
        let _ = writeln!(md, "  - {c}");
    }
    let _ = writeln!(
        md,
        "- **Captured per exchange:** {}\n",
        l.captured.join("; ")
    );
    let mut t = Table::new(&[
        "Connector",
        "Category",
        "Body logging",
        "Allow-list",
        "Upstream request id header",
    ]);
    for c in &l.connectors {
        t.row(&[
            c.connector.clone(),
            match (&c.category, c.sensitive_category) {
                (Some(k), true) => format!("{k} (HR/payroll)"),
                (Some(k), false) => k.clone(),
                (None, true) => "HR/payroll".into(),
                (None, false) => "-".into(),
            },
            c.body.clone(),
            c.allowlist.join(", "),
            c.upstream_request_id_header.clone().unwrap_or_default(),
        ]);
    }
    t.finish(md);
}

fn upstreams(md: &mut String, r: &Report) {
    let u = &r.upstreams;
    let _ = writeln!(md, "## 4. Upstream SLAs and fallbacks\n");
    let mut t = Table::new(&[
        "Connector",
        "Uptime SLA",
        "Rate-limit model",
        "Limit exceeded (shape)",
        "Webhook delivery",
        "Breaking-change notice",
        "Support response",
    ]);
    for s in &u.sla {
        t.row(&[
            match &s.preset {
                Some(p) if p != &s.connector => format!("{} (preset {p})", s.connector),
                _ => s.connector.clone(),
            },
            s.uptime.clone(),
            s.rate_limit_model.clone(),
            s.limit_exceeded.clone(),
            s.webhook_delivery.clone(),
            s.breaking_change_notice.clone(),
            s.support_response.clone(),
        ]);
    }
    t.finish(md);
    let mut t = Table::new(&[
        "Connector",
        "Timeout",
        "Circuit breaker",
        "Retry",
        "Idempotency",
        "Reconciliation",
        "Degradation mode",
    ]);
    for x in &u.resilience {
        t.row(&[
            x.connector.clone(),
            match &x.attempt_timeout {
                Some(a) => format!("{} (per attempt {a})", x.timeout),
                None => x.timeout.clone(),
            },
            x.breaker.clone(),
            x.retry.clone(),
            x.idempotency.clone(),
            x.reconciliation.clone(),
            x.degradation.clone(),
        ]);
    }
    t.finish(md);
    let _ = writeln!(
        md,
        "**Composite availability** (a feature needing all of its connectors at once is up only \
         when all are: the product of their uptimes; a month is 30 days = 43,200 minutes):\n"
    );
    let mut t = Table::new(&[
        "Feature",
        "Connectors",
        "Composite",
        "Downtime / month",
        "Target",
        "Allowed downtime / month",
        "Meets target",
    ]);
    for c in &u.composite {
        let uptimes: Vec<String> = c
            .connectors
            .iter()
            .map(|n| {
                u.sla
                    .iter()
                    .find(|s| &s.connector == n)
                    .map_or_else(|| format!("{n} unknown"), |s| format!("{n} {}", s.uptime))
            })
            .collect();
        t.row(&[
            c.feature.clone(),
            uptimes.join(" × "),
            format!("{:.3}%", c.composite_percent),
            format!("{:.1} min", c.downtime_minutes_per_month),
            c.target_percent
                .map_or_else(|| "not set".into(), |t| format!("{t}%")),
            c.target_downtime_minutes_per_month
                .map_or_else(|| "-".into(), |m| format!("{m:.1} min")),
            match c.meets_target {
                Some(true) => "yes".to_owned(),
                Some(false) => "NO".to_owned(),
                None => "-".to_owned(),
            } + &if c.unknown.is_empty() {
                String::new()
            } else {
                format!(" (unknown SLA left out: {})", c.unknown.join(", "))
            },
        ]);
    }
    t.finish(md);
}

fn chain(md: &mut String, r: &Report) {
    let _ = writeln!(md, "## 5. Processing chain (per connector, for the DPA)\n");
    for c in &r.processing_chain {
        let _ = writeln!(md, "### {} → {}\n", c.connector, c.upstream);
        let _ = writeln!(md, "- **Receives:** {}", c.receives.join("; "));
        let _ = writeln!(md, "- **Transforms:** {}", c.transforms.join("; "));
        let _ = writeln!(md, "- **Stores:** {}\n", c.stores.join("; "));
        if c.buffers.is_empty() {
            let _ = writeln!(md, "Buffers: none.\n");
            continue;
        }
        let mut t = Table::new(&["Buffers", "At most", "Where", "Encrypted"]);
        for b in &c.buffers {
            t.row(&[
                b.what.clone(),
                b.max_duration.clone(),
                b.location.clone(),
                yes_no(b.encrypted),
            ]);
        }
        t.finish(md);
    }
}

fn trail(md: &mut String, r: &Report) {
    let a = &r.admin_trail;
    let _ = writeln!(md, "## 6. Admin audit trail and break-glass access\n");
    let _ = writeln!(md, "{}\n", a.break_glass);
    let Some(s) = &a.summary else {
        let _ = writeln!(
            md,
            "Trail not read: {}.\n",
            a.detail.as_deref().unwrap_or("unavailable")
        );
        return;
    };
    match &s.chain {
        ChainStatus::Ok { entries, head_hash } => {
            let _ = writeln!(
                md,
                "- **Hash chain:** verified, {entries} entries; head hash `{head_hash}` (keep it: a \
                 later report with a different history before this point means the trail was rewritten)"
            );
        }
        ChainStatus::Broken { at_seq, reason } => {
            let _ = writeln!(md, "- **Hash chain:** BROKEN at entry {at_seq}: {reason}");
        }
    }
    let _ = writeln!(
        md,
        "- **Since {} ({} days):** {} entries; {} credential reveal(s); {} account deletion(s); \
         {} key rotation(s); {} refused attempt(s)",
        s.since,
        a.period_days,
        s.entries_in_period,
        s.reveals.len(),
        s.deletions,
        s.key_rotations,
        s.refused
    );
    let _ = writeln!(
        md,
        "- **Last key rotation:** {}\n",
        s.last_key_rotation.as_deref().unwrap_or("none recorded")
    );
    if !s.by_action.is_empty() {
        let mut t = Table::new(&["Action", "Count"]);
        for (k, v) in &s.by_action {
            t.row(&[k.clone(), v.to_string()]);
        }
        t.finish(md);
    }
    if !s.reveals.is_empty() {
        let mut t = Table::new(&["Seq", "When", "Actor", "Account", "Outcome", "Reason"]);
        for e in &s.reveals {
            t.row(&[
                e.seq.to_string(),
                e.at.clone(),
                e.actor.clone(),
                e.target.clone(),
                e.outcome.clone(),
                e.detail.clone().unwrap_or_default(),
            ]);
        }
        t.finish(md);
    }
}

fn live(md: &mut String, r: &Report) {
    let l = &r.live_state;
    let _ = writeln!(md, "## 7. Live state read by this audit\n");
    let mut t = Table::new(&["Check", "Result", "Detail"]);
    t.row(&[
        format!("storage ({})", l.storage.kind),
        match l.storage.reachable {
            Some(true) => "reachable".into(),
            Some(false) => "NOT reachable".into(),
            None => "not probed".into(),
        },
        match &l.storage.detail {
            Some(d) => format!("{} ({d})", l.storage.url),
            None => l.storage.url.clone(),
        },
    ]);
    t.row(&[
        format!("master key ({})", l.keys.provider),
        match l.keys.readable {
            Some(true) => format!(
                "readable, key id {}",
                l.keys.key_id.as_deref().unwrap_or("?")
            ),
            Some(false) => "NOT readable".into(),
            None => "not probed".into(),
        },
        format!(
            "{}{}{}",
            l.keys.location,
            l.keys
                .file_mode
                .as_ref()
                .map(|m| format!(", mode {m}"))
                .unwrap_or_default(),
            l.keys
                .detail
                .as_ref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        ),
    ]);
    t.row(&[
        "boundary-log files".into(),
        format!("{} file(s)", l.logs.files),
        match (l.logs.oldest_age_days, &l.logs.detail) {
            (Some(d), _) => format!("oldest {d} day(s)"),
            (None, Some(d)) => d.clone(),
            _ => String::new(),
        },
    ]);
    t.row(&[
        "accounts".into(),
        if l.accounts.available {
            "read".into()
        } else {
            "not read".into()
        },
        l.accounts.detail.clone().unwrap_or_default(),
    ]);
    t.finish(md);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_table_safe() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
        assert_eq!(cell("  "), "-");
    }
}
