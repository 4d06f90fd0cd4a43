//! Built-in presets: each one loads, and the merge rules hold.

use std::time::Duration;

use secrecy::ExposeSecret;
use tidegate_config::{AuthConfig, presets};

use crate::support::{load_err, load_ok, minimal};

/// The operator-supplied part each preset needs at minimum.
fn minimal_connector_for(name: &str) -> String {
    let mut body = format!("preset = \"{name}\"\n");
    let preset = presets::source(name).unwrap();
    if !preset.lines().any(|l| l.starts_with("base_url")) {
        body.push_str("base_url = \"https://tenant.example.com\"\n");
    }
    let table: toml::Table = toml::from_str(preset).unwrap();
    let auth = table.get("auth").and_then(|a| a.as_table());
    if auth.and_then(|a| a.get("type")).and_then(|t| t.as_str()) == Some("oauth2") {
        body.push_str("auth = { client_id = \"id\", client_secret = \"secret\"");
        if !auth.unwrap().contains_key("token_url") {
            body.push_str(", token_url = \"https://tenant.example.com/oauth/tokens\"");
        }
        body.push_str(" }\n");
    }
    body
}

#[test]
fn the_five_providers_are_shipped() {
    let names: Vec<&str> = presets::list().collect();
    for expected in ["github", "hubspot", "salesforce", "stripe", "zendesk"] {
        assert!(names.contains(&expected), "{names:?}");
    }
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "presets::list() is sorted");
    assert!(presets::source("nope").is_none());
}

#[test]
fn every_preset_parses_and_merges_under_a_minimal_connector() {
    for name in presets::list() {
        let config = load_ok(&minimal(&minimal_connector_for(name)));
        let crm = &config.connectors["crm"];
        assert_eq!(crm.preset.as_deref(), Some(name));
        assert!(
            crm.category.is_some(),
            "{name}: every preset names its category"
        );
        let sla = crm.sla.as_ref().unwrap_or_else(|| panic!("{name}: no sla"));
        assert!(
            sla.uptime.is_some() && sla.rate_limit_model.is_some(),
            "{name}: sla facts"
        );
        assert!(crm.errors.is_some(), "{name}: error expressions");
        assert!(
            crm.idempotency.is_some(),
            "{name}: idempotency stated (header or none)"
        );
    }
}

#[test]
fn provider_facts_come_through() {
    let github = load_ok(&minimal(&minimal_connector_for("github")));
    let gh = &github.connectors["crm"];
    assert_eq!(gh.base_url, "https://api.github.com");
    let rl = gh.rate_limit.as_ref().unwrap();
    assert_eq!(rl.reset_unit.as_deref(), Some("epoch_seconds"));
    assert_eq!(
        gh.idempotency.as_ref().unwrap().header,
        None,
        "GitHub has no idempotency keys"
    );
    assert_eq!(
        gh.webhooks.as_ref().unwrap().verify.as_deref(),
        Some("github")
    );
    assert!(
        gh.auth
            .oauth2()
            .unwrap()
            .revoked_errors
            .contains(&"bad_refresh_token".to_owned())
    );

    let stripe = load_ok(&minimal(&minimal_connector_for("stripe")));
    let st = &stripe.connectors["crm"];
    assert!(matches!(st.auth, AuthConfig::ApiKey(_)));
    assert_eq!(
        st.idempotency.as_ref().unwrap().header.as_deref(),
        Some("Idempotency-Key")
    );
    assert_eq!(
        st.webhooks.as_ref().unwrap().tolerance,
        Some(Duration::from_secs(300))
    );

    let sf = load_ok(&minimal(&minimal_connector_for("salesforce")));
    let sf = &sf.connectors["crm"];
    assert_eq!(
        sf.rate_limit.as_ref().unwrap().format.as_deref(),
        Some("salesforce")
    );
    assert!(sf.webhooks.is_none(), "Salesforce has no signed webhooks");
    assert_eq!(
        sf.errors.as_ref().unwrap().class.as_deref(),
        Some("$[0].errorCode = 'REQUEST_LIMIT_EXCEEDED' ? 'rate_limited'")
    );
}

#[test]
fn the_connector_wins_key_by_key() {
    let config = load_ok(&minimal(
        r#"preset = "hubspot"
base_url = "https://hubspot-proxy.internal.example"
rate_limit = { reset_unit = "seconds" }
webhooks = { secret = "s", tolerance = "1m" }
auth = { client_id = "id", client_secret = "secret", scopes = ["crm.objects.contacts.read"] }"#,
    ));
    let c = &config.connectors["crm"];
    assert_eq!(c.base_url, "https://hubspot-proxy.internal.example");
    let rl = c.rate_limit.as_ref().unwrap();
    assert_eq!(rl.reset_unit.as_deref(), Some("seconds"), "connector value");
    assert_eq!(
        rl.limit.as_deref(),
        Some("X-HubSpot-RateLimit-Max"),
        "preset value kept"
    );
    let wh = c.webhooks.as_ref().unwrap();
    assert_eq!(wh.tolerance, Some(Duration::from_secs(60)));
    assert_eq!(wh.verify.as_deref(), Some("hubspot-v3"));
    assert_eq!(wh.secret.as_ref().unwrap().expose_secret(), "s");
    let oauth = c.auth.oauth2().expect("same type: merged");
    assert_eq!(oauth.token_url, "https://api.hubapi.com/oauth/v1/token");
    assert_eq!(oauth.scopes, ["crm.objects.contacts.read"]);
}

#[test]
fn an_auth_of_another_type_replaces_the_presets_whole() {
    let config = load_ok(&minimal(
        "preset = \"github\"\nauth = { type = \"api_key\", header = \"Authorization\", prefix = \"token \" }",
    ));
    let AuthConfig::ApiKey(key) = &config.connectors["crm"].auth else {
        panic!("{:?}", config.connectors["crm"].auth)
    };
    assert_eq!(key.prefix.as_deref(), Some("token "));
    // Had the OAuth keys of the preset been merged in, `token_url` would be an unknown key of
    // an api_key auth and loading would have failed.
}

#[test]
fn an_unknown_preset_is_an_error_at_the_preset_key() {
    let lines = load_err(&minimal("preset = \"hubspott\"\ntimeout = \"5s\""));
    assert_eq!(
        lines,
        [format!(
            "tidegate.toml:7:10: unknown preset `hubspott`; built-in presets: {}",
            presets::list().collect::<Vec<_>>().join(", ")
        )],
        "the missing base_url is a consequence and not reported"
    );
}

#[test]
fn errors_in_preset_values_point_at_the_preset_line() {
    // The preset's oauth2 auth needs the operator's client credentials.
    let lines = load_err(&minimal("preset = \"hubspot\""));
    assert_eq!(
        lines,
        [
            "tidegate.toml:7:10: missing key `client_id` in `connectors.crm.auth`; preset `hubspot` does not provide it",
            "tidegate.toml:7:10: missing key `client_secret` in `connectors.crm.auth`; preset `hubspot` does not provide it",
        ]
    );
}

#[test]
fn the_configuration_reference_lists_every_preset() {
    let docs = include_str!("../../../../docs/configuration.md");
    for name in presets::list() {
        assert!(
            docs.contains(&format!("`{name}`")),
            "docs/configuration.md (section Presets) does not list preset `{name}`"
        );
    }
}
