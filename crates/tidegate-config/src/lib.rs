//! tidegate's configuration: the TOML schema of CONTRACT §2, its loader and the built-in
//! provider presets.
//!
//! ```
//! use std::path::Path;
//! let toml = r#"
//! [server]
//! [environments.production]
//! api_keys = ["${PROD_KEY:-dev-key}"]
//! [connectors.github]
//! preset = "github"
//! auth = { type = "api_key" }   # a personal access token instead of the preset's OAuth
//! "#;
//! let config = tidegate_config::Config::from_str(toml, Path::new("tidegate.toml"), &|_| None)
//!     .expect("valid config");
//! assert_eq!(tidegate_config::check_summary(&config), "ok: 1 connectors, 1 environments");
//! ```
//!
//! Loading never stops at the first problem: [`Config::from_str`] returns every error it can
//! find as `PATH:LINE:COL: message` lines ([`ConfigErrors`]), so one `tidegate check` shows the
//! whole list.
#![forbid(unsafe_code)]

mod checks;
mod connector;
mod error;
mod load;
mod model;
pub mod presets;
pub mod units;

use std::path::Path;

pub use checks::{NoValueChecks, ValueChecks};
pub use error::{ConfigError, ConfigErrors};
pub use model::*;
pub use units::{ByteSize, Dur, format_duration, format_size, parse_duration, parse_size};

impl Config {
    /// Reads and loads the config file at `path`, interpolating `${VAR}`s from the process
    /// environment. A file that cannot be read is reported as `PATH:1:1: cannot read: ...`.
    /// Expressions, `rate_limit.format` and `webhooks.verify` are not checked: see
    /// [`Config::load_with`].
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        Self::load_with(path, &NoValueChecks)
    }

    /// [`Config::load`], also asking `checks` about every JSONata expression, `rate_limit.format`
    /// and `webhooks.verify`, so that a bad one is reported at its own location.
    pub fn load_with(path: &Path, checks: &dyn ValueChecks) -> Result<Config, ConfigErrors> {
        let src = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_owned(),
            line: 1,
            col: 1,
            message: format!("cannot read: {e}"),
        })?;
        let mut config = Self::from_str_with(&src, path, &|name| std::env::var(name).ok(), checks)?;
        config.source_path = Some(path.to_owned());
        Ok(config)
    }

    /// Loads a config from TOML text. `path_for_messages` is used in error locations and as the
    /// base of relative paths (its parent directory); `env` resolves `${VAR}`s (inject it in
    /// tests). `source_path` is left `None`. Expressions, `rate_limit.format` and
    /// `webhooks.verify` are not checked: see [`Config::from_str_with`].
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(
        src: &str,
        path_for_messages: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        Self::from_str_with(src, path_for_messages, env, &NoValueChecks)
    }

    /// [`Config::from_str`], also asking `checks` about every JSONata expression,
    /// `rate_limit.format` and `webhooks.verify` (see [`ValueChecks`]).
    pub fn from_str_with(
        src: &str,
        path_for_messages: &Path,
        env: &dyn Fn(&str) -> Option<String>,
        checks: &dyn ValueChecks,
    ) -> Result<Config, ConfigErrors> {
        load::load(src, path_for_messages, env, checks)
    }
}

/// The line `tidegate check` prints for a valid config: `ok: N connectors, M environments`.
pub fn check_summary(config: &Config) -> String {
    format!(
        "ok: {} connectors, {} environments",
        config.connectors.len(),
        config.environments.len()
    )
}
