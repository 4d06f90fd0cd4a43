//! Shared helpers: loading test configs with placeholder environment values, and building a
//! report without live probes (deterministic) or with them.

use std::path::{Path, PathBuf};

use tidegate_audit::live::LiveState;
use tidegate_audit::{AuditInput, Report};
use tidegate_config::Config;

pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Every `${VAR}` resolves to a placeholder, as documented at the top of examples/tidegate.toml.
pub fn placeholder_env(name: &str) -> Option<String> {
    Some(format!("placeholder-{}", name.to_ascii_lowercase()))
}

pub fn load(path: &Path) -> (Config, String) {
    let src = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut config = Config::from_str(&src, path, &placeholder_env)
        .unwrap_or_else(|e| panic!("{} does not load:\n{e}", path.display()));
    config.source_path = Some(path.to_owned());
    (config, src)
}

/// A fixed instant so that reports are reproducible.
pub fn fixed_now() -> time::OffsetDateTime {
    time::macros::datetime!(2026-11-29 12:00:00 UTC)
}

/// The report of a config file with nothing probed.
pub fn offline_report(path: &Path) -> Report {
    let (config, src) = load(path);
    let live = LiveState::not_probed(&config, fixed_now());
    Report::build(&AuditInput {
        config: &config,
        raw_source: Some(&src),
        live: &live,
        now: fixed_now(),
    })
}

pub fn pairs(report: &Report) -> Vec<(String, String)> {
    report
        .findings
        .iter()
        .map(|f| (f.id.clone(), f.path.clone()))
        .collect()
}
