//! One module per subcommand.

pub mod accounts;
pub mod audit;
pub mod check;
pub mod demo;
pub mod keys;
pub mod presets;
pub mod reconcile;
pub mod reveal;
pub mod sandbox;
pub mod serve;
pub mod trail;
mod value_checks;

use std::{path::Path, process::ExitCode};

use tidegate_config::Config;

/// Why a command failed, and so which exit code it ends with.
#[derive(Debug)]
pub enum Failure {
    /// Bad usage or an invalid config (exit 2); every line is printed to stderr.
    Invalid(String),
    /// Something failed at runtime (exit 1).
    Runtime(String),
}

impl Failure {
    /// Prints the diagnostics and returns the exit code.
    pub fn report(self) -> ExitCode {
        match self {
            Failure::Invalid(lines) => {
                eprintln!("{lines}");
                ExitCode::from(2)
            }
            Failure::Runtime(message) => {
                eprintln!("error: {message}");
                ExitCode::from(1)
            }
        }
    }
}

/// Loads the config, mapping errors to exit code 2 (`PATH:LINE:COL: message` lines). JSONata
/// expressions, `rate_limit.format` and `webhooks.verify` are checked here too, by the real
/// engine and parsers, so a bad one is reported at its own location.
pub fn load_config(path: &Path) -> Result<Config, Failure> {
    Config::load_with(path, &value_checks::LayerChecks)
        .map_err(|errors| Failure::Invalid(errors.to_string()))
}

/// A stack-building failure (a config value the loader accepted but a layer cannot use),
/// reported in the same `PATH:LINE:COL:` shape (line 1: the stack knows no location).
pub fn stack_failure(path: &Path, err: tidegate_stack::StackError) -> Failure {
    match err {
        tidegate_stack::StackError::Config(errors) => Failure::Invalid(errors.to_string()),
        other => Failure::Invalid(format!("{}:1:1: {other}", path.display())),
    }
}
