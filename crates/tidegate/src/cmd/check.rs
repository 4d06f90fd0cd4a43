//! `tidegate check`: validates the configuration (and that every connector stack builds).

use std::path::Path;

use super::{Failure, load_config, stack_failure};

/// Prints `ok: N connectors, M environments`, or the problems (exit 2).
pub fn run(config_path: &Path) -> Result<(), Failure> {
    let config = load_config(config_path)?;
    let summary = tidegate_config::check_summary(&config);
    tidegate_stack::Stacks::from_config_value(config).map_err(|e| stack_failure(config_path, e))?;
    println!("{summary}");
    Ok(())
}
