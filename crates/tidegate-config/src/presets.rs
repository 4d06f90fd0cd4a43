//! Built-in provider presets: TOML data files compiled into the binary.
//!
//! A preset is a partial connector table (any key of `[connectors.NAME]`) holding the facts
//! about a provider that do not depend on the operator: fixed URLs, rate-limit header mapping,
//! error expressions, idempotency header, webhook verification scheme, token-error variants and
//! SLA facts. A connector naming `preset = "NAME"` is deep-merged OVER the preset (see
//! [`merge`]). The file format is documented in `presets/README.md`.

/// (name, TOML source) of every built-in preset, sorted by name.
const PRESETS: &[(&str, &str)] = &[
    ("asana", include_str!("../presets/asana.toml")),
    ("github", include_str!("../presets/github.toml")),
    ("google", include_str!("../presets/google.toml")),
    ("hubspot", include_str!("../presets/hubspot.toml")),
    ("intercom", include_str!("../presets/intercom.toml")),
    ("jira", include_str!("../presets/jira.toml")),
    ("msgraph", include_str!("../presets/msgraph.toml")),
    ("netsuite", include_str!("../presets/netsuite.toml")),
    ("notion", include_str!("../presets/notion.toml")),
    ("pipedrive", include_str!("../presets/pipedrive.toml")),
    ("quickbooks", include_str!("../presets/quickbooks.toml")),
    ("salesforce", include_str!("../presets/salesforce.toml")),
    ("shopify", include_str!("../presets/shopify.toml")),
    ("slack", include_str!("../presets/slack.toml")),
    ("stripe", include_str!("../presets/stripe.toml")),
    ("xero", include_str!("../presets/xero.toml")),
    ("zendesk", include_str!("../presets/zendesk.toml")),
];

/// Names of all built-in presets, sorted.
pub fn list() -> impl Iterator<Item = &'static str> {
    PRESETS.iter().map(|(name, _)| *name)
}

/// The raw TOML of a preset.
pub fn source(name: &str) -> Option<&'static str> {
    PRESETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, src)| *src)
}

/// The connector table `connector` (TOML text) merged over the preset `preset`, by the same
/// rules the loader uses (see [`crate`] docs and `presets/README.md`): tables merge key by key,
/// the connector wins, arrays and scalars are replaced whole, and an `auth` of another `type`
/// replaces the preset's `auth` whole. No interpolation, defaults or validation happen here;
/// this is for tools and tests that want to see what a preset contributes.
pub fn merge(preset: &str, connector: &str) -> Result<toml::Table, String> {
    use serde::Deserialize;
    use toml::de::{DeTable, DeValue, ValueDeserializer};

    let preset_src = source(preset).ok_or_else(|| format!("unknown preset `{preset}`"))?;
    let base = DeTable::parse(preset_src)
        .map_err(|e| format!("preset `{preset}`: {}", e.message()))?
        .into_inner();
    let over =
        DeTable::parse(connector).map_err(|e| format!("connector table: {}", e.message()))?;
    let span = over.span();
    let merged = crate::load::merge_connector(base, over.into_inner());
    toml::Table::deserialize(ValueDeserializer::from(toml::Spanned::new(
        span,
        DeValue::Table(merged),
    )))
    .map_err(|e| e.message().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_shows_what_a_preset_contributes() {
        let merged = merge("github", "auth = { type = \"api_key\" }\ntimeout = \"5s\"").unwrap();
        assert_eq!(merged["base_url"].as_str(), Some("https://api.github.com"));
        assert_eq!(merged["timeout"].as_str(), Some("5s"));
        let auth = merged["auth"].as_table().unwrap();
        assert_eq!(
            auth.len(),
            1,
            "another auth type replaces the preset's: {auth:?}"
        );
        assert!(merge("nope", "").unwrap_err().contains("unknown preset"));
        assert!(merge("github", "a = ").is_err());
    }
}
