//! The audit report: four runbook sections, the processing chain, the admin trail summary and
//! the findings, each answer derived from the effective configuration (presets merged) and the
//! live state. Building is pure (no I/O beyond what [`LiveState`] already read, plus looking for
//! a dotenv file next to the database); rendering is in [`crate::render`].

mod chain;
mod logging;
mod oauth;
mod retention;
mod upstream;

use serde::Serialize;
use tidegate_config::Config;
use time::OffsetDateTime;

pub use chain::{Buffer, ProcessingChain};
pub use logging::{ConnectorLogging, LoggingSection};
pub use oauth::{AccountCounts, CredentialConnector, Encryption, OAuthSection, Serialization};
pub use retention::{DataRetention, KekPlacement, RetentionLayer};
pub use upstream::{ResilienceRow, SlaRow, UpstreamSection};

use crate::findings::{Finding, Findings, Severity};
use crate::live::LiveState;
use crate::trail::TrailSummary;

/// Version of the JSON shape (`docs/audit-report.schema.json`). Bumped only on a breaking change.
pub const SCHEMA_VERSION: u32 = 1;

/// What the audit is computed from.
pub struct AuditInput<'a> {
    /// The effective configuration (presets merged, defaults applied, paths resolved).
    pub config: &'a Config,
    /// The config file as written, to tell `${VAR}` secrets from literal ones. `None`: that
    /// check is skipped.
    pub raw_source: Option<&'a str>,
    pub live: &'a LiveState,
    pub now: OffsetDateTime,
}

/// The whole report. Its JSON form is published as `docs/audit-report.schema.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub generated_at: String,
    pub tidegate_version: String,
    pub config_path: Option<String>,
    pub summary: Summary,
    pub data_retention: DataRetention,
    pub oauth: OAuthSection,
    pub logging: LoggingSection,
    pub upstreams: UpstreamSection,
    pub processing_chain: Vec<ProcessingChain>,
    pub admin_trail: AdminTrailSection,
    pub live_state: LiveState,
    /// CONTRACT §9: `{ id, severity, path, message, fix }`, high first.
    pub findings: Vec<Finding>,
}

/// Counts at a glance.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub connectors: usize,
    pub environments: usize,
    pub findings_high: usize,
    pub findings_medium: usize,
    pub findings_low: usize,
}

/// The admin trail: break-glass reveals, deletions and key rotations in the period, and whether
/// the hash chain verifies.
#[derive(Debug, Clone, Serialize)]
pub struct AdminTrailSection {
    pub available: bool,
    pub detail: Option<String>,
    /// Days covered by the summary.
    pub period_days: u32,
    pub summary: Option<TrailSummary>,
    /// How a plaintext credential can be seen at all.
    pub break_glass: String,
}

/// The period the admin-trail summary covers by default.
pub const DEFAULT_TRAIL_PERIOD_DAYS: u32 = 90;

impl Report {
    /// Builds the report.
    pub fn build(input: &AuditInput<'_>) -> Self {
        let config = input.config;
        let mut findings = Findings::default();

        let data_retention = retention::build(config, input.live, &mut findings);
        let oauth = oauth::build(config, input.live, input.now, &mut findings);
        let logging = logging::build(config, input.live, &mut findings);
        let upstreams = upstream::build(config, &mut findings);
        let processing_chain = chain::build(config);
        crate::rules::secrets_in_source(input.raw_source, &mut findings);

        let admin_trail = admin_trail(input.live, &mut findings);
        let findings = findings.into_sorted();
        let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
        Report {
            schema_version: SCHEMA_VERSION,
            generated_at: crate::trail::format_at(input.now),
            tidegate_version: env!("CARGO_PKG_VERSION").to_owned(),
            config_path: config.source_path.as_ref().map(|p| p.display().to_string()),
            summary: Summary {
                connectors: config.connectors.len(),
                environments: config.environments.len(),
                findings_high: count(Severity::High),
                findings_medium: count(Severity::Medium),
                findings_low: count(Severity::Low),
            },
            data_retention,
            oauth,
            logging,
            upstreams,
            processing_chain,
            admin_trail,
            live_state: input.live.clone(),
            findings,
        }
    }

    /// Whether `--strict` fails: any finding of severity high.
    pub fn has_high(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::High)
    }
}

fn admin_trail(live: &LiveState, findings: &mut Findings) -> AdminTrailSection {
    if let Some(summary) = &live.trail.summary
        && let crate::trail::ChainStatus::Broken { at_seq, reason } = &summary.chain
    {
        findings.push(
            crate::findings::ids::TRAIL_BROKEN,
            "storage.url",
            format!("the admin audit trail's hash chain is broken at entry {at_seq}: {reason}"),
            "Treat as a security incident: restore the trail tables from a backup taken before \
             the break, compare with the head hash printed in earlier audit reports, and find \
             out who had write access to the database.",
        );
    }
    AdminTrailSection {
        available: live.trail.available,
        detail: live.trail.detail.clone(),
        period_days: DEFAULT_TRAIL_PERIOD_DAYS,
        summary: live.trail.summary.clone(),
        break_glass: "A stored credential is never printed by `accounts list|show` or any API. \
                      `tidegate accounts reveal ID --reason \"...\"` is the only way to see one; \
                      it is refused without --reason (exit 2) and every attempt, allowed or not, \
                      is appended to this trail with the operator and the reason."
            .into(),
    }
}

/// Formats a duration the way the config writes them (`15s`, `1h`, `30d`) when one unit says it
/// exactly, else as a compound a reader takes in at once (`52m35s` rather than `3155s`).
pub(crate) fn dur(d: std::time::Duration) -> String {
    let exact = tidegate_config::format_duration(d);
    let secs = d.as_secs();
    if d.subsec_nanos() != 0 || secs < 60 || !exact.ends_with('s') || exact.ends_with("ms") {
        return exact;
    }
    let parts = [
        (secs / 86_400, "d"),
        (secs / 3_600 % 24, "h"),
        (secs / 60 % 60, "m"),
        (secs % 60, "s"),
    ];
    let mut out = String::new();
    for (n, unit) in parts {
        if n != 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(super::dur(Duration::from_secs(3155)), "52m35s");
        assert_eq!(super::dur(Duration::from_secs(90_061)), "1d1h1m1s");
        assert_eq!(super::dur(Duration::from_secs(3600)), "1h");
        assert_eq!(super::dur(Duration::from_secs(45)), "45s");
        assert_eq!(super::dur(Duration::from_millis(1500)), "1500ms");
    }
}
