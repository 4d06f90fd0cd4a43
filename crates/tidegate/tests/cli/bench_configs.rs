//! `tidegate check` passes only what `serve` runs — including the events wiring — and the load
//! test's own gateway configs stay valid (the script broke once, unnoticed, when a preset began
//! to require a webhook secret: `check` did not look at the events wiring, and no test ran the
//! script).

use std::{path::Path, process::Command};

use super::{tidegate, write};

#[test]
fn check_refuses_webhook_verification_without_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "tidegate.toml",
        "[server]\n\n[environments.production]\napi_keys = [\"key-0123456789abcdef\"]\n\n\
         [connectors.gh]\nbase_url = \"https://api.github.com\"\nauth = { type = \"none\" }\n\
         webhooks = { verify = \"github\" }\n",
    );
    let out = tidegate()
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("connectors.gh.webhooks.secret") && stderr.contains("needs a secret"),
        "{stderr}"
    );
}

#[test]
fn the_e2e_load_test_configs_pass_check() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benches/e2e_loadtest.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("CHECK_ONLY", "1")
        .env("TIDEGATE_BIN", env!("CARGO_BIN_EXE_tidegate"))
        .env_remove("TIDEGATE_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.matches("ok: 1 connectors, 1 environments").count(),
        2,
        "the single-process and the PostgreSQL + Redis configs: {stdout}"
    );
}
