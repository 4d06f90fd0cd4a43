//! Findings: places where the configuration (or the live state) falls short of the runbook.
//!
//! Every finding has a stable id (`TG-...`), a fixed severity, the config path it comes from, a
//! message about this deployment, and the fix. Ids never change meaning once published: CI gates
//! and questionnaires refer to them. The catalog below is the single list; `docs/audit.md`
//! explains each entry and a test checks that the two agree.

use serde::{Deserialize, Serialize};

/// How much a finding matters. `--strict` fails on any `high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    High,
    Medium,
    Low,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }
}

/// One finding, as it appears in the report's top-level `findings` array (CONTRACT §9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub id: String,
    pub severity: Severity,
    /// Dotted config path (`connectors.hubspot.timeout`, `logging.retention`).
    pub path: String,
    pub message: String,
    pub fix: String,
}

/// A catalog entry: what a finding id means, independent of any deployment.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    /// One line: the condition that raises it.
    pub when: &'static str,
}

macro_rules! rules {
    ($( $konst:ident = $id:literal, $sev:ident, $when:literal; )*) => {
        /// Finding ids, as constants, so code and tests cannot misspell them.
        pub mod ids {
            $( pub const $konst: &str = $id; )*
        }
        /// Every rule the audit knows, in documentation order.
        pub const CATALOG: &[Rule] = &[
            $( Rule { id: $id, severity: Severity::$sev, when: $when }, )*
        ];
    };
}

rules! {
    TIMEOUT_MISSING = "TG-TIMEOUT-MISSING", High,
        "a connector's whole-call timeout is zero (disabled)";
    TIMEOUT_LONG = "TG-TIMEOUT-LONG", Medium,
        "a connector's timeout is over 30 s";
    BREAKER_MISSING = "TG-BREAKER-MISSING", High,
        "a connector has no circuit breaker";
    BREAKER_NEVER_OPENS = "TG-BREAKER-NEVER-OPENS", Medium,
        "a breaker has neither consecutive_failures, failure_rate nor slow_call_rate, so it cannot open";
    RETRY_429 = "TG-RETRY-429", High,
        "a connector retries 429 (or a status its errors config marks as rate limited)";
    RETRY_POST_NO_IDEMPOTENCY = "TG-RETRY-POST-NO-IDEMPOTENCY", Medium,
        "a connector retries failures that happen after the request was sent (reset, timeout, 5xx) while POST is not covered by an idempotency header";
    LOG_RETENTION_UNSET = "TG-LOG-RETENTION-UNSET", High,
        "boundary-log retention is \"forever\"";
    LOG_RETENTION_LONG = "TG-LOG-RETENTION-LONG", Medium,
        "boundary-log retention is over 90 days";
    LOG_RETENTION_NOT_APPLIED = "TG-LOG-RETENTION-NOT-APPLIED", Medium,
        "the boundary-log directory holds a log file older than the retention (plus one day of slack)";
    LOG_STDOUT = "TG-LOG-STDOUT", Low,
        "the boundary log goes to stdout, so its retention is the log collector's, not tidegate's";
    LOG_BODY_UNREDACTED = "TG-LOG-BODY-UNREDACTED", High,
        "bodies are sampled (body_sample_rate > 0) while redact_fields is empty";
    LOG_ERROR_BODY_UNREDACTED = "TG-LOG-ERROR-BODY-UNREDACTED", Medium,
        "redact_fields is empty: error-response bodies are logged with pattern redaction only";
    LOG_HEADERS_NOT_REDACTED = "TG-LOG-HEADERS-NOT-REDACTED", Medium,
        "redact_headers lacks one of authorization, cookie, set-cookie, x-api-key, proxy-authorization";
    HRIS_ALLOWLIST_MISSING = "TG-HRIS-ALLOWLIST-MISSING", High,
        "an HRIS or payroll connector (category, or logging.hris) may log bodies without an allow-list";
    DEADLETTER_TTL_LONG = "TG-DEADLETTER-TTL-LONG", High,
        "the dead-letter TTL is over 24 h";
    CLAIMCHECK_TTL_LONG = "TG-CLAIMCHECK-TTL-LONG", Medium,
        "the claim-check TTL is over 1 h";
    LOCKS_LOCAL_MULTI_INSTANCE = "TG-LOCKS-LOCAL-MULTI-INSTANCE", High,
        "refresh locks are local while several instances run (audit.instances > 1, or PostgreSQL storage without audit.instances = 1)";
    KEK_BESIDE_DB = "TG-KEK-BESIDE-DB", High,
        "the master key is stored beside the database (see docs/audit.md for the exact rule)";
    KEK_UNAVAILABLE = "TG-KEK-UNAVAILABLE", Medium,
        "the master key cannot be read by the audit (file missing or unreadable, variable unset or malformed)";
    KEY_FILE_PERMISSIONS = "TG-KEY-FILE-PERMISSIONS", Medium,
        "the master key file is readable or writable by group or others";
    KEY_ROTATION_INCOMPLETE = "TG-KEY-ROTATION-INCOMPLETE", Medium,
        "some accounts' data keys are wrapped by a master key other than the current one";
    SECRET_IN_CONFIG = "TG-SECRET-IN-CONFIG", High,
        "a secret (client_secret, admin_key, api_keys, webhook secrets) is written literally in the config file instead of ${VAR}";
    STORAGE_UNREACHABLE = "TG-STORAGE-UNREACHABLE", Medium,
        "the audit could not open the storage database";
    TRAIL_BROKEN = "TG-TRAIL-BROKEN", High,
        "the admin audit trail's hash chain does not verify";
    ACCOUNT_STALE = "TG-ACCOUNT-STALE", Medium,
        "an active OAuth account's token expired and was not refreshed since";
    ACCOUNT_NEEDS_REAUTH = "TG-ACCOUNT-NEEDS-REAUTH", Low,
        "accounts are waiting for re-authorization";
    CREDENTIAL_ROTATION_MISSING = "TG-CREDENTIAL-ROTATION-MISSING", Medium,
        "long-lived credentials (api_key, basic) are used beside OAuth connectors and audit.credential_rotation is unset";
    CREDENTIAL_ROTATION_OVERDUE = "TG-CREDENTIAL-ROTATION-OVERDUE", Medium,
        "a long-lived credential was last replaced longer ago than audit.credential_rotation";
    AVAILABILITY_BELOW_TARGET = "TG-AVAILABILITY-BELOW-TARGET", High,
        "the composite availability of a feature's connectors is below audit.target_availability";
    AVAILABILITY_NO_TARGET = "TG-AVAILABILITY-NO-TARGET", Low,
        "audit.target_availability is unset";
    SLA_UNKNOWN = "TG-SLA-UNKNOWN", Low,
        "a connector's uptime SLA is unknown, so composite availability leaves it out";
    FEATURE_UNKNOWN_CONNECTOR = "TG-FEATURE-UNKNOWN-CONNECTOR", Medium,
        "an audit.features group names a connector that does not exist";
}

/// The catalog entry of an id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    CATALOG.iter().find(|r| r.id == id)
}

/// Collects findings, taking each one's severity from the catalog so that an id always has the
/// same severity.
#[derive(Debug, Default)]
pub struct Findings(Vec<Finding>);

impl Findings {
    /// Adds a finding. Panics in debug builds if `id` is not in the catalog (a programming error).
    pub fn push(
        &mut self,
        id: &'static str,
        path: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        let severity = rule(id).map(|r| r.severity);
        debug_assert!(severity.is_some(), "finding {id} is not in the catalog");
        self.0.push(Finding {
            id: id.to_owned(),
            severity: severity.unwrap_or(Severity::High),
            path: path.into(),
            message: message.into(),
            fix: fix.into(),
        });
    }

    /// Sorted by severity (high first), then path, then id: a stable order for golden tests.
    pub fn into_sorted(mut self) -> Vec<Finding> {
        self.0
            .sort_by(|a, b| (a.severity, &a.path, &a.id).cmp(&(b.severity, &b.path, &b.id)));
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for r in CATALOG {
            assert!(seen.insert(r.id), "duplicate id {}", r.id);
            assert!(r.id.starts_with("TG-"));
            assert!(
                r.id.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
            );
        }
    }

    #[test]
    fn severity_comes_from_the_catalog() {
        let mut f = Findings::default();
        f.push(ids::SLA_UNKNOWN, "connectors.x.sla.uptime", "m", "f");
        f.push(ids::BREAKER_MISSING, "connectors.x.breaker", "m", "f");
        let v = f.into_sorted();
        assert_eq!(v[0].id, ids::BREAKER_MISSING);
        assert_eq!(v[0].severity, Severity::High);
        assert_eq!(v[1].severity, Severity::Low);
    }
}
