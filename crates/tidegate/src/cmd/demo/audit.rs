//! Step on the audit: the runbook `tidegate audit` renders, computed over the demo's own
//! configuration and live state.

use super::{Ctx, StepResult, check};

/// Step 11.
pub async fn summary(c: &Ctx) -> StepResult {
    let report = tidegate_audit::audit(&c.config, None).await;
    let s = &report.summary;
    let count = |sev: tidegate_audit::Severity| {
        report.findings.iter().filter(|f| f.severity == sev).count()
    };
    c.say(format!(
        "   {} connectors, {} environment(s); findings: {} high, {} medium, {} low",
        s.connectors, s.environments, s.findings_high, s.findings_medium, s.findings_low
    ));
    for f in report.findings.iter().take(6) {
        c.say(format!(
            "     [{:?}] {} ({}): {}",
            f.severity, f.id, f.path, f.message
        ));
    }
    let composites: Vec<String> = report
        .upstreams
        .composite
        .iter()
        .map(|comp| {
            let unknown = if comp.unknown.is_empty() {
                String::new()
            } else {
                format!(" (uptime unknown for: {})", comp.unknown.join(", "))
            };
            format!(
                "{} over [{}]: {:.3}% ≈ {:.0} min/month down{unknown}",
                comp.feature,
                comp.connectors.join(", "),
                comp.composite_percent,
                comp.downtime_minutes_per_month
            )
        })
        .collect();
    for line in &composites {
        c.say(format!("   composite availability: {line}"));
    }
    check(s.connectors == c.config.connectors.len(), || {
        format!(
            "the report covers {} of {} connectors",
            s.connectors,
            c.config.connectors.len()
        )
    })?;
    check(
        count(tidegate_audit::Severity::High) == s.findings_high
            && count(tidegate_audit::Severity::Medium) == s.findings_medium
            && count(tidegate_audit::Severity::Low) == s.findings_low,
        || "the summary's counts disagree with the findings".into(),
    )?;
    check(!composites.is_empty(), || {
        "no composite availability computed".into()
    })?;
    Ok(format!(
        "findings: {} high, {} medium, {} low; {}",
        s.findings_high,
        s.findings_medium,
        s.findings_low,
        composites.first().cloned().unwrap_or_default()
    ))
}
