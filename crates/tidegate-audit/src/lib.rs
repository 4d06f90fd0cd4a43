//! tidegate's integration audit: the runbook rendered from the live configuration, and the
//! hash-chained admin audit trail.
//!
//! ```no_run
//! # async fn demo() {
//! use std::path::Path;
//! use tidegate_audit::render::{Format, render};
//!
//! let config = tidegate_config::Config::load(Path::new("tidegate.toml")).unwrap();
//! let source = std::fs::read_to_string("tidegate.toml").ok();
//! let report = tidegate_audit::audit(&config, source.as_deref()).await;
//! print!("{}", render(&report, Format::Markdown));
//! if report.has_high() { std::process::exit(2) } // what `tidegate audit --strict` does
//! # }
//! ```
//!
//! Why generated: a vendor risk assessment asks "how long do you keep third-party data?",
//! "how are OAuth tokens protected?", "what do you log?", "what happens when the vendor is
//! down?". Answers written by hand drift from the deployment; answers computed from the
//! configuration that actually runs, plus what the audit can observe (storage reachable, where
//! the master key lives, how old the oldest log file is, accounts by status, the admin trail's
//! hash chain), do not. Where the configuration falls short, a finding with a stable id, the
//! config path and the fix says so, and `--strict` turns high findings into a failing CI step.
#![forbid(unsafe_code)]

mod accounts;
pub mod availability;
pub mod breakglass;
pub mod findings;
pub mod live;
pub mod render;
pub mod report;
pub mod rules;
pub mod trail;

pub use findings::{Finding, Severity};
pub use report::{AuditInput, Report};

/// Audits `config` against its live deployment: gathers the live state (storage, key, logs,
/// accounts, admin trail over the last [`report::DEFAULT_TRAIL_PERIOD_DAYS`] days) and builds
/// the report. `raw_source` is the config file as written (for the literal-secret check).
pub async fn audit(config: &tidegate_config::Config, raw_source: Option<&str>) -> Report {
    let now = time::OffsetDateTime::now_utc();
    let since = now - time::Duration::days(i64::from(report::DEFAULT_TRAIL_PERIOD_DAYS));
    let live = live::LiveState::gather(config, since).await;
    Report::build(&AuditInput {
        config,
        raw_source,
        live: &live,
        now,
    })
}
