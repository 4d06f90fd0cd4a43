//! Golden tests: each config in tests/data audits to exactly the findings listed in the
//! `.findings` file beside it (`SEVERITY ID PATH` per line). Set `TIDEGATE_BLESS=1` to rewrite
//! the golden files after an intended change, then review the diff.

use std::path::Path;

use tidegate_audit::Severity;
use tidegate_audit::findings::{CATALOG, ids};
use tidegate_audit::render::{Format, render};

use crate::support::{data_dir, offline_report, pairs};

fn golden(config: &Path) {
    let report = offline_report(config);
    let actual: String = report
        .findings
        .iter()
        .map(|f| format!("{} {} {}\n", f.severity.as_str(), f.id, f.path))
        .collect();
    let golden = config.with_extension("findings");
    if std::env::var_os("TIDEGATE_BLESS").is_some() {
        std::fs::write(&golden, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&golden)
        .unwrap_or_else(|_| panic!("{} missing (run with TIDEGATE_BLESS=1)", golden.display()));
    assert_eq!(
        actual,
        expected,
        "findings of {} differ from {}",
        config.display(),
        golden.display()
    );
}

#[test]
fn golden_findings() {
    for name in [
        "clean.toml",
        "seeded.toml",
        "seeded_b.toml",
        "envkey/tidegate.toml",
    ] {
        golden(&data_dir().join(name));
    }
}

#[test]
fn clean_config_has_no_high_finding() {
    let report = offline_report(&data_dir().join("clean.toml"));
    let high: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::High)
        .collect();
    assert!(high.is_empty(), "{high:#?}");
    assert!(!report.has_high());
}

/// Every finding the brief lists, seeded once, is reported with the config path it comes from.
#[test]
fn seeded_configs_raise_each_finding_at_its_path() {
    let a = pairs(&offline_report(&data_dir().join("seeded.toml")));
    let b = pairs(&offline_report(&data_dir().join("seeded_b.toml")));
    let e = pairs(&offline_report(&data_dir().join("envkey/tidegate.toml")));
    let expect = |set: &[(String, String)], id: &str, path: &str| {
        assert!(
            set.iter().any(|(i, p)| i == id && p == path),
            "{id} at {path} missing from {set:#?}"
        );
    };
    expect(&a, ids::SECRET_IN_CONFIG, "server.admin_key");
    expect(
        &a,
        ids::SECRET_IN_CONFIG,
        "environments.production.api_keys[0]",
    );
    expect(&a, ids::KEK_BESIDE_DB, "keys.path");
    expect(&a, ids::CLAIMCHECK_TTL_LONG, "claim_check.ttl");
    expect(&a, ids::LOG_STDOUT, "logging.file");
    expect(&a, ids::LOG_RETENTION_UNSET, "logging.retention");
    expect(&a, ids::LOG_BODY_UNREDACTED, "logging.redact_fields");
    expect(&a, ids::LOG_HEADERS_NOT_REDACTED, "logging.redact_headers");
    expect(&a, ids::DEADLETTER_TTL_LONG, "events.dead_letter_ttl");
    expect(&a, ids::LOCKS_LOCAL_MULTI_INSTANCE, "locks.url");
    expect(&a, ids::AVAILABILITY_BELOW_TARGET, "audit.features.sync");
    expect(&a, ids::TIMEOUT_LONG, "connectors.crm.timeout");
    expect(&a, ids::RETRY_429, "connectors.crm.retry.on");
    expect(&a, ids::RETRY_POST_NO_IDEMPOTENCY, "connectors.crm.retry");
    expect(
        &a,
        ids::CREDENTIAL_ROTATION_MISSING,
        "connectors.tickets.auth",
    );
    expect(&a, ids::BREAKER_NEVER_OPENS, "connectors.tickets.breaker");
    expect(
        &a,
        ids::HRIS_ALLOWLIST_MISSING,
        "connectors.payroll.logging.body",
    );
    expect(&a, ids::BREAKER_MISSING, "connectors.payroll.breaker");
    expect(&a, ids::SLA_UNKNOWN, "connectors.payroll.sla.uptime");
    expect(&b, ids::LOCKS_LOCAL_MULTI_INSTANCE, "locks.url");
    expect(&b, ids::LOG_RETENTION_LONG, "logging.retention");
    expect(&b, ids::LOG_ERROR_BODY_UNREDACTED, "logging.redact_fields");
    expect(&b, ids::AVAILABILITY_NO_TARGET, "audit.target_availability");
    expect(&e, ids::KEK_BESIDE_DB, "keys.env");
    // Nothing of seeded_b's is a false positive of the clean parts:
    assert!(!b.iter().any(|(i, _)| i == ids::KEK_BESIDE_DB), "{b:#?}");
}

/// The loader refuses `timeout = "0s"`, but a `Config` built in code (a Rust service using the
/// stacks in-process) can still disable it; the audit catches that too.
#[test]
fn zero_timeout_built_in_code_is_a_finding() {
    let (mut config, src) = crate::support::load(&data_dir().join("clean.toml"));
    config.connectors.get_mut("stripe").unwrap().timeout = std::time::Duration::ZERO;
    let live = tidegate_audit::live::LiveState::not_probed(&config, crate::support::fixed_now());
    let report = tidegate_audit::Report::build(&tidegate_audit::AuditInput {
        config: &config,
        raw_source: Some(&src),
        live: &live,
        now: crate::support::fixed_now(),
    });
    let f = report
        .findings
        .iter()
        .find(|f| f.id == ids::TIMEOUT_MISSING)
        .expect("finding");
    assert_eq!(f.path, "connectors.stripe.timeout");
    assert_eq!(f.severity, Severity::High);
}

/// Composite availability in the report matches the hand calculation:
/// seeded.toml's `sync` = crm 99.9% × tickets 99.9% = 0.999² = 0.998001 → 99.8001%,
/// (1 − 0.998001) × 43,200 = 86.3568 min/month, target 99.99% → 4.32 min/month.
#[test]
fn composite_availability_matches_hand_calculation() {
    let report = offline_report(&data_dir().join("seeded.toml"));
    let sync = report
        .upstreams
        .composite
        .iter()
        .find(|c| c.feature == "sync")
        .unwrap();
    assert!(
        (sync.composite_percent - 99.8001).abs() < 1e-9,
        "{}",
        sync.composite_percent
    );
    assert!((sync.downtime_minutes_per_month - 86.3568).abs() < 1e-6);
    assert!((sync.target_downtime_minutes_per_month.unwrap() - 4.32).abs() < 1e-9);
    assert_eq!(sync.meets_target, Some(false));

    // clean.toml: crm_sync = hubspot 99.95% × salesforce 99.9% = 0.9985005 → 99.85005%
    // (64.7784 min/month) against 99.5% (216 min/month): met.
    let clean = offline_report(&data_dir().join("clean.toml"));
    let crm = clean
        .upstreams
        .composite
        .iter()
        .find(|c| c.feature == "crm_sync")
        .unwrap();
    assert!((crm.composite_percent - 99.850_05).abs() < 1e-9);
    assert!((crm.downtime_minutes_per_month - 64.7784).abs() < 1e-6);
    assert_eq!(crm.meets_target, Some(true));
}

#[test]
fn markdown_is_paste_ready() {
    for name in ["clean.toml", "seeded.toml"] {
        let report = offline_report(&data_dir().join(name));
        let md = render(&report, Format::Markdown);
        if let Some(dir) = std::env::var_os("TIDEGATE_AUDIT_DUMP") {
            // Debugging aid: look at the rendered report.
            std::fs::write(Path::new(&dir).join(name.replace(".toml", ".md")), &md).unwrap();
        }
        assert!(!md.contains('\u{1b}'), "ANSI escape in markdown");
        for heading in [
            "## Findings",
            "## 1. Data retention",
            "## 2. OAuth token lifecycle",
            "## 3. Logging",
            "## 4. Upstream SLAs and fallbacks",
            "## 5. Processing chain",
            "## 6. Admin audit trail",
        ] {
            assert!(md.contains(heading), "{name}: missing {heading}");
        }
        // Every table row has as many cells as its header.
        let mut width = None;
        for line in md.lines() {
            if line.starts_with('|') {
                let cells = line.matches(" | ").count() + 1;
                if line.starts_with("|---") {
                    continue;
                }
                match width {
                    None => width = Some(cells),
                    Some(w) => assert_eq!(w, cells, "{name}: ragged row {line}"),
                }
            } else {
                width = None;
            }
        }
        for f in &report.findings {
            assert!(md.contains(&f.id), "{} missing from markdown", f.id);
        }
    }
}

#[test]
fn every_catalog_rule_is_documented() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/audit.md"))
            .expect("docs/audit.md");
    for rule in CATALOG {
        assert!(
            doc.contains(&format!("`{}`", rule.id)),
            "{} is not explained in docs/audit.md",
            rule.id
        );
        assert!(
            doc.contains(&format!("`{}` ({})", rule.id, rule.severity.as_str())),
            "docs/audit.md must state {}'s severity as \"`{}` ({})\"",
            rule.id,
            rule.id,
            rule.severity.as_str()
        );
    }
}

/// Every config shipped in examples/ passes `check` and audits clean under --strict (no high
/// finding), loaded with the placeholder values its header documents.
#[test]
fn shipped_examples_audit_clean_under_strict() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        seen += 1;
        // The variables its header documents are enough: the config loads with exactly those
        // set, and every connector stack builds (what `tidegate check` does).
        let src = std::fs::read_to_string(&path).unwrap();
        let documented: Vec<String> = src
            .lines()
            .take_while(|l| l.starts_with('#'))
            .flat_map(|l| l.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
            .filter(|w| {
                w.len() > 3
                    && w.contains('_')
                    && w.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            })
            .map(str::to_owned)
            .collect();
        let env = |name: &str| {
            documented
                .iter()
                .any(|d| d == name)
                .then(|| format!("placeholder-{name}"))
        };
        let config = tidegate_config::Config::from_str(&src, &path, &env).unwrap_or_else(|e| {
            panic!(
                "{} needs variables its header does not document:\n{e}",
                path.display()
            )
        });
        if let Err(e) = tidegate_stack::Stacks::from_config_value(config) {
            panic!("{} does not pass `tidegate check`: {e}", path.display());
        }
        let report = offline_report(&path);
        let high: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::High)
            .collect();
        assert!(
            high.is_empty(),
            "{} has high findings: {high:#?}",
            path.display()
        );
    }
    assert!(seen >= 1, "no example config found in {}", dir.display());
}
