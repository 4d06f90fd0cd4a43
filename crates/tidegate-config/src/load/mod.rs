//! The loader: TOML text → effective [`Config`], collecting every error on the way.
//!
//! Stages, each reporting all it finds before the next runs on what is left:
//! 1. parse (syntax errors stop here: the rest would only be guesses);
//! 2. interpolate `${VAR}` in every string ([`interpolate`]);
//! 3. per section / environment / connector: merge the preset under the connector
//!    ([`merge`]), deserialize with recovery ([`recover`]), then semantic checks
//!    ([`validate`]) located with the spans still at hand, and the values only other crates
//!    understand (JSONata, rate-limit formats, webhook schemes) put to the caller's
//!    [`ValueChecks`] ([`external`]);
//! 4. defaults for omitted sections, relative paths resolved against the config's directory
//!    ([`paths`]).

mod connectors;
mod diag;
mod external;
mod interpolate;
mod merge;
mod paths;
mod recover;
mod validate;

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::{
    AuditConfig, ClaimCheckConfig, Config, ConfigErrors, EnvironmentConfig, EventsConfig,
    KeysConfig, LocksConfig, LoggingConfig, ServerConfig, StorageConfig, ValueChecks,
};
use diag::Diagnostics;
use recover::deserialize_all;
use validate::Validate;

pub(crate) use merge::merge_connector;

const SECTIONS: &[&str] = &[
    "server",
    "storage",
    "locks",
    "keys",
    "claim_check",
    "logging",
    "events",
    "audit",
    "environments",
    "connectors",
];

pub(crate) fn load(
    src: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    checks: &dyn ValueChecks,
) -> Result<Config, ConfigErrors> {
    let mut diag = Diagnostics::new(path, src);
    let (root, syntax_errors) = DeTable::parse_recoverable(src);
    if !syntax_errors.is_empty() {
        for e in syntax_errors {
            let span = e.span().unwrap_or(0..0);
            diag.error(span, format!("TOML syntax: {}", e.message()));
        }
        return Err(diag.into_errors());
    }
    let mut root = root.into_inner();
    interpolate::interpolate_table(&mut root, env, &mut diag);

    let mut sections = Sections::default();
    let mut audit_value = None;
    for (key, value) in root {
        let name = key.get_ref().as_ref();
        match name {
            "server" => sections.server = Some(section(value, "server", &mut diag)),
            "storage" => sections.storage = section(value, "storage", &mut diag),
            "locks" => sections.locks = section(value, "locks", &mut diag),
            "keys" => sections.keys = section(value, "keys", &mut diag),
            "claim_check" => sections.claim_check = section(value, "claim_check", &mut diag),
            "logging" => sections.logging = section(value, "logging", &mut diag),
            "events" => sections.events = section(value, "events", &mut diag),
            "audit" => {
                audit_value = Some(value.clone());
                sections.audit = section(value, "audit", &mut diag);
            }
            "environments" => {
                sections.environments = Some(environments(value, key.span(), &mut diag));
            }
            "connectors" => {
                sections.connectors =
                    Some(connectors::load_all(value, key.span(), checks, &mut diag));
            }
            other => diag.error(
                key.span(),
                format!(
                    "unknown section `{other}`; expected one of: {}",
                    SECTIONS.join(", ")
                ),
            ),
        }
    }

    for (present, what) in [
        (
            sections.server.is_some(),
            "missing section `[server]` (it may be empty)",
        ),
        (
            sections.environments.is_some(),
            "missing section `[environments.NAME]`: define at least one environment with api_keys",
        ),
        (
            sections.connectors.is_some(),
            "missing section `[connectors.NAME]`: define at least one connector",
        ),
    ] {
        if !present {
            diag.error(0..0, what);
        }
    }
    validate::cross_checks(&sections, audit_value.as_ref(), &mut diag);

    if diag.has_errors() {
        return Err(diag.into_errors());
    }
    let base_dir = path.parent().unwrap_or(Path::new(""));
    let mut config = Config {
        server: sections.server.flatten().unwrap_or_default(),
        storage: sections.storage.unwrap_or_default(),
        locks: sections.locks.unwrap_or_default(),
        keys: sections.keys.unwrap_or_default(),
        claim_check: sections.claim_check.unwrap_or_default(),
        logging: sections.logging.unwrap_or_default(),
        events: sections.events.unwrap_or_default(),
        audit: sections.audit.unwrap_or_default(),
        environments: sections
            .environments
            .unwrap_or_default()
            .into_iter()
            .map(|(name, (env, _))| (name, env))
            .collect(),
        connectors: sections.connectors.unwrap_or_default(),
        source_path: None,
    };
    paths::resolve(&mut config, base_dir);
    Ok(config)
}

/// What was deserialized, section by section; `None` for omitted (or broken) sections.
#[derive(Default)]
pub(crate) struct Sections {
    /// Outer `Option`: section present; inner: it deserialized.
    pub(crate) server: Option<Option<ServerConfig>>,
    pub(crate) storage: Option<StorageConfig>,
    pub(crate) locks: Option<LocksConfig>,
    pub(crate) keys: Option<KeysConfig>,
    pub(crate) claim_check: Option<ClaimCheckConfig>,
    pub(crate) logging: Option<LoggingConfig>,
    pub(crate) events: Option<EventsConfig>,
    pub(crate) audit: Option<AuditConfig>,
    /// Each environment with the spans of its api keys (for duplicate-key errors).
    pub(crate) environments: Option<BTreeMap<String, LoadedEnvironment>>,
    pub(crate) connectors: Option<BTreeMap<String, crate::ConnectorConfig>>,
}

/// An environment with the spans of its api keys.
pub(crate) type LoadedEnvironment = (EnvironmentConfig, Vec<std::ops::Range<usize>>);

/// Deserializes and validates one top-level section.
fn section<T>(value: Spanned<DeValue<'_>>, name: &str, diag: &mut Diagnostics) -> Option<T>
where
    T: DeserializeOwned + validate::Validate,
{
    let (parsed, value) = deserialize_all::<T>(value, &[name], diag, false);
    let mut parsed = parsed?;
    parsed.validate(&validate::At::new(&value, &[name]), diag);
    Some(parsed)
}

fn environments(
    value: Spanned<DeValue<'_>>,
    key_span: std::ops::Range<usize>,
    diag: &mut Diagnostics,
) -> BTreeMap<String, LoadedEnvironment> {
    let mut out = BTreeMap::new();
    let DeValue::Table(table) = value.get_ref() else {
        diag.error(
            value.span(),
            "`environments` must be a table of environments: [environments.NAME]",
        );
        return out;
    };
    if table.is_empty() {
        diag.error(
            key_span,
            "no environments defined: add [environments.NAME] with api_keys",
        );
    }
    for (name, env_value) in table.iter() {
        let name_str = name.get_ref().to_string();
        if let Some(problem) = validate::name_problem(&name_str) {
            diag.error(
                name.span(),
                format!("environment name `{name_str}` {problem}"),
            );
        }
        let path = ["environments", name_str.as_str()];
        let (parsed, env_value) =
            deserialize_all::<EnvironmentConfig>(env_value.clone(), &path, diag, false);
        let Some(mut parsed) = parsed else { continue };
        let at = validate::At::new(&env_value, &path);
        parsed.validate(&at, diag);
        let key_spans = match env_value
            .get_ref()
            .as_table()
            .and_then(|t| t.get("api_keys"))
        {
            Some(keys) => match keys.get_ref().as_array() {
                Some(items) => items.iter().map(|i| i.span()).collect(),
                None => vec![keys.span()],
            },
            None => Vec::new(),
        };
        out.insert(name_str, (parsed, key_spans));
    }
    out
}
