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
