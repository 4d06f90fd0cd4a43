//! `tidegate audit [--format markdown|json] [--strict] [--out FILE]`: the integration audit
//! runbook of CONTRACT §9, computed from the effective config and the live deployment.

use std::path::{Path, PathBuf};

use tidegate_audit::render::{Format, render};

use super::{Failure, load_config};

/// Options of `tidegate audit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `markdown` (paste into a questionnaire) or `json` (docs/audit-report.schema.json).
    #[arg(long, default_value = "markdown", value_parser = parse_format)]
    format: Format,
    /// Exit 2 when any finding is high (for CI gates). The report is still written.
    #[arg(long)]
    strict: bool,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

/// Renders the report; with `--strict`, exit 2 if any finding is high.
pub async fn run(config_path: &Path, args: Args) -> Result<(), Failure> {
    let config = load_config(config_path)?;
    let source = std::fs::read_to_string(config_path).ok();
    let report = tidegate_audit::audit(&config, source.as_deref()).await;
    let text = render(&report, args.format);
    let s = &report.summary;
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text)
                .map_err(|e| Failure::Runtime(format!("cannot write {}: {e}", path.display())))?;
            println!(
                "ok: audit report written to {} ({} high, {} medium, {} low findings)",
                path.display(),
                s.findings_high,
                s.findings_medium,
                s.findings_low
            );
        }
        None => print!("{text}"),
    }
    if args.strict && report.has_high() {
        let ids: Vec<String> = report
            .findings
            .iter()
            .filter(|f| f.severity == tidegate_audit::Severity::High)
            .map(|f| format!("{} ({})", f.id, f.path))
            .collect();
        return Err(Failure::Invalid(format!(
            "audit --strict: {} high finding(s): {}",
            ids.len(),
            ids.join(", ")
        )));
    }
    Ok(())
}
