//! `tidegate audit` and `tidegate accounts reveal` through the real binary: exit codes, where
//! output goes, and that a refused reveal shows up in the audit's admin-trail summary.

use super::{tidegate, write};

const CONFIG: &str = r#"
[server]
admin_key = "${TG_CLI_AUDIT_ADMIN_KEY}"
[storage]
url = "sqlite://./data/tidegate.db"
[keys]
path = "./secrets/master.key"
[logging]
retention = "forever"
[environments.production]
api_keys = ["${TG_CLI_AUDIT_PROD_KEY}"]
[connectors.crm]
base_url = "https://crm.example.com"
breaker = { consecutive_failures = 5 }
"#;

#[test]
fn audit_strict_exits_2_on_high_findings_and_writes_json() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "tidegate.toml", CONFIG);
    let run = |args: &[&str]| {
        tidegate()
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("TG_CLI_AUDIT_ADMIN_KEY", "a")
            .env("TG_CLI_AUDIT_PROD_KEY", "p")
            .output()
            .unwrap()
    };

    // retention = "forever" is TG-LOG-RETENTION-UNSET (high).
    let strict = run(&["audit", "--strict"]);
    assert_eq!(strict.status.code(), Some(2), "{strict:?}");
    let stdout = String::from_utf8(strict.stdout).unwrap();
    assert!(
        stdout.starts_with("# Integration audit runbook"),
        "the report is still printed"
    );
    assert!(!stdout.contains('\u{1b}'), "no ANSI codes");
    let stderr = String::from_utf8(strict.stderr).unwrap();
    assert!(
        stderr.contains("TG-LOG-RETENTION-UNSET (logging.retention)"),
        "{stderr}"
    );

    let lenient = run(&["audit"]);
    assert_eq!(lenient.status.code(), Some(0), "{lenient:?}");

    let out = dir.path().join("audit.json");
    let json = run(&["audit", "--format", "json", "--out", out.to_str().unwrap()]);
    assert_eq!(json.status.code(), Some(0), "{json:?}");
    assert!(
        String::from_utf8(json.stdout)
            .unwrap()
            .starts_with("ok: audit report written to")
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let findings = doc["findings"].as_array().unwrap();
    assert!(findings.iter().any(|f| f["id"] == "TG-LOG-RETENTION-UNSET"
        && f["severity"] == "high"
        && f["path"] == "logging.retention"));
    for f in findings {
        for key in ["id", "severity", "path", "message", "fix"] {
            assert!(f[key].is_string(), "{f}");
        }
    }
    assert!(
        !dir.path().join("data/tidegate.db").exists(),
        "the audit does not create the database"
    );
}

#[test]
fn reveal_without_reason_exits_2_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "tidegate.toml", CONFIG);
    let run = |args: &[&str]| {
        tidegate()
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("TG_CLI_AUDIT_ADMIN_KEY", "a")
            .env("TG_CLI_AUDIT_PROD_KEY", "p")
            .env("USER", "cli-test-operator")
            .output()
            .unwrap()
    };
    let refused = run(&["accounts", "reveal", "acc_1"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(refused.stdout.is_empty());
    assert!(
        String::from_utf8(refused.stderr)
            .unwrap()
            .contains("--reason")
    );

    let report = run(&["audit", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    let summary = &doc["admin_trail"]["summary"];
    assert_eq!(summary["refused"], 1, "{summary}");
    let reveal = &summary["reveals"][0];
    assert_eq!(reveal["actor"], "cli:cli-test-operator");
    assert_eq!(reveal["target"], "account:acc_1");
    assert_eq!(reveal["outcome"], "refused");
    assert_eq!(summary["chain"]["status"], "ok");
}
