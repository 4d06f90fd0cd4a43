//! `[connectors.*]`: preset merge, the `auth` table (tagged by `type`), deserialization and
//! validation of each connector on its own, so errors in different connectors are all reported.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diag::Diagnostics;
use super::recover::{describe, deserialize_all};
use super::validate::{self, At, Validate};
use crate::{ApiKeyConfig, AuthConfig, ConnectorConfig, OAuth2Config, ValueChecks, presets};

const AUTH_TYPES: &str = "oauth2, api_key, basic, none";

pub(crate) fn load_all(
    value: Spanned<DeValue<'_>>,
    key_span: Range<usize>,
    checks: &dyn ValueChecks,
    diag: &mut Diagnostics,
) -> BTreeMap<String, ConnectorConfig> {
    let mut out = BTreeMap::new();
    let DeValue::Table(table) = value.into_inner() else {
        diag.error(
            key_span,
            "`connectors` must be a table of connectors: [connectors.NAME]",
        );
        return out;
    };
    if table.is_empty() {
        diag.error(key_span, "no connectors defined: add [connectors.NAME]");
    }
    for (name, connector) in table {
        let name_str = name.get_ref().to_string();
        if let Some(problem) = validate::name_problem(&name_str) {
            diag.error(
                name.span(),
                format!("connector name `{name_str}` {problem}"),
            );
        }
        if let Some(c) = load_one(&name_str, name.span(), connector, checks, diag) {
            out.insert(name_str, c);
        }
    }
    out
}

fn load_one(
    name: &str,
    name_span: Range<usize>,
    value: Spanned<DeValue<'_>>,
    checks: &dyn ValueChecks,
    diag: &mut Diagnostics,
) -> Option<ConnectorConfig> {
    let path = ["connectors", name];
    let span = value.span();
    let DeValue::Table(mut table) = value.into_inner() else {
        diag.error(
            name_span,
            format!("connector `{name}` must be a table: [connectors.{name}]"),
        );
        return None;
    };

    let mut preset_failed = false;
    if let Some((preset_span, preset)) = table
        .get("preset")
        .map(|p| (p.span(), p.get_ref().as_str().map(str::to_owned)))
    {
        match preset.as_deref().map(|p| (p, presets::source(p))) {
            Some((preset, Some(src))) => match DeTable::parse(src) {
                Ok(preset_table) => {
                    let offset = diag.add_virtual(src.len(), preset_span, preset);
                    let preset_table = super::merge::shift_table(preset_table.into_inner(), offset);
                    table = super::merge_connector(preset_table, table);
                }
                Err(e) => {
                    preset_failed = true;
                    diag.error(
                        preset_span,
                        format!(
                            "built-in preset `{preset}` is invalid TOML: {}",
                            e.message()
                        ),
                    );
                }
            },
            Some((preset, None)) => {
                preset_failed = true;
                diag.error(
                    preset_span,
                    format!(
                        "unknown preset `{preset}`; built-in presets: {}",
                        presets::list().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
            None => {
                preset_failed = true;
                diag.error(
                    preset_span,
                    "`preset` must be a string naming a built-in preset",
                );
            }
        }
    }

    // `auth` is tagged by `type`; it is deserialized on its own so that errors inside it keep
    // their exact locations (serde's internally tagged enums lose them).
    let (auth, auth_entry) = match table.remove_entry("auth") {
        Some((key, auth_value)) => {
            let (auth, auth_value) = load_auth(auth_value, &path, diag);
            (auth, Some((key, auth_value)))
        }
        None => (Some(AuthConfig::None), None),
    };

    let (parsed, value) = deserialize_all::<ConnectorConfig>(
        Spanned::new(span.clone(), DeValue::Table(table)),
        &path,
        diag,
        preset_failed,
    );
    let mut connector = parsed?;
    connector.auth = auth?;

    // Put `auth` back so that semantic checks can point into it.
    let mut value = value;
    if let (Some((key, auth_value)), DeValue::Table(t)) = (auth_entry, value.get_mut()) {
        t.insert(key, auth_value);
    }
    let at = At::new(&value, &path);
    connector.validate(&at, diag);
    super::external::check_connector(&connector, &at, checks, diag);
    Some(connector)
}

/// Takes no keys (for `auth = { type = "basic" }` and `{ type = "none" }`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoKeys {}

/// Returns the auth (if valid) and its table as finally deserialized (for locating later
/// semantic errors).
fn load_auth<'i>(
    value: Spanned<DeValue<'i>>,
    connector_path: &[&str],
    diag: &mut Diagnostics,
) -> (Option<AuthConfig>, Spanned<DeValue<'i>>) {
    let mut path = connector_path.to_vec();
    path.push("auth");
    let Some(table) = value.get_ref().as_table() else {
        diag.error(
            value.span(),
            format!("`auth` must be a table, e.g. auth = {{ type = \"oauth2\", ... }}; types: {AUTH_TYPES}"),
        );
        return (None, value);
    };
    let mut rest = table.clone();
    let Some((type_key, auth_type)) = rest.remove_entry("type") else {
        diag.error(
            value.span(),
            format!(
                "missing key `type` in {}; expected one of: {AUTH_TYPES}",
                describe(&path)
            ),
        );
        return (None, value);
    };
    let rest = Spanned::new(value.span(), DeValue::Table(rest));
    let (parsed, mut table) = match auth_type.get_ref().as_str() {
        Some("oauth2") => {
            let (parsed, table) = deserialize_all::<OAuth2Config>(rest, &path, diag, false);
            (parsed.map(AuthConfig::OAuth2), table)
        }
        Some("api_key") => {
            let (parsed, table) = deserialize_all::<ApiKeyConfig>(rest, &path, diag, false);
            (parsed.map(AuthConfig::ApiKey), table)
        }
        Some("basic") => {
            let (parsed, table) = deserialize_all::<NoKeys>(rest, &path, diag, false);
            (parsed.map(|_| AuthConfig::Basic), table)
        }
        Some("none") => {
            let (parsed, table) = deserialize_all::<NoKeys>(rest, &path, diag, false);
            (parsed.map(|_| AuthConfig::None), table)
        }
        Some(other) => {
            diag.error(
                auth_type.span(),
                format!("unknown auth type `{other}`; expected one of: {AUTH_TYPES}"),
            );
            (None, rest)
        }
        None => {
            diag.error(
                auth_type.span(),
                format!("`auth.type` must be a string, one of: {AUTH_TYPES}"),
            );
            (None, rest)
        }
    };
    if let DeValue::Table(t) = table.get_mut() {
        t.insert(type_key, auth_type);
    }
    (parsed, table)
}
