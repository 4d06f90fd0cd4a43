//! Helpers shared by the test modules.

use std::path::Path;

use tidegate_config::{Config, ConfigErrors};

/// An environment lookup backed by a fixed list.
pub fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// Loads `src` as `tidegate.toml` with the given variables.
pub fn load(src: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
    Config::from_str(src, Path::new("tidegate.toml"), &env_of(vars))
}

/// Loads `src`, which must be valid.
pub fn load_ok(src: &str) -> Config {
    match load(src, &[]) {
        Ok(c) => c,
        Err(e) => panic!("expected a valid config, got:\n{e}"),
    }
}

/// Loads `src`, which must be invalid; returns the error lines.
pub fn load_err(src: &str) -> Vec<String> {
    match load(src, &[]) {
        Ok(c) => panic!("expected errors, got a config: {c:?}"),
        Err(e) => e.to_string().lines().map(str::to_owned).collect(),
    }
}

/// The smallest valid config, with `extra` appended (usually connector keys).
pub fn minimal(connector_body: &str) -> String {
    format!(
        "[server]\n\n[environments.production]\napi_keys = [\"key-1\"]\n\n[connectors.crm]\n{connector_body}\n"
    )
}
