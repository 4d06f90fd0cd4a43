//! `tidegate check`: validates the configuration — everything `serve` would refuse before it
//! touches storage: the schema, every connector stack, and the events wiring (webhook
//! verification schemes and their secrets, outbound endpoints and their signing secrets).

use std::path::Path;

use super::{Failure, load_config, stack_failure};

/// Prints `ok: N connectors, M environments`, or the problems (exit 2).
pub fn run(config_path: &Path) -> Result<(), Failure> {
    let config = load_config(config_path)?;
    let summary = tidegate_config::check_summary(&config);
    // The events runtime's own checks (pure, no I/O), so `check` passes only what `serve` runs.
    tidegate_events::wiring::endpoints_from_config(&config)
        .and_then(|_| tidegate_events::wiring::inbound_from_config(&config))
        .map_err(|e| Failure::Invalid(format!("{}:1:1: {e}", config_path.display())))?;
    tidegate_stack::Stacks::from_config_value(config).map_err(|e| stack_failure(config_path, e))?;
    println!("{summary}");
    Ok(())
}
