//! Secrets never show in Debug output of a loaded config.

use std::path::Path;

use tidegate_config::Config;

use crate::support::env_of;

#[test]
fn debug_output_of_a_config_contains_no_secret() {
    let canaries = [
        ("ADMIN", "canary-admin-7f3a"),
        ("PROD_KEY", "canary-apikey-91b2"),
        ("WH_SECRET", "whsec_canary-webhook-55e1"),
        ("WH_OLD", "whsec_canary-webhook-old-0c4d"),
        ("CLIENT_SECRET", "canary-client-secret-3d9e"),
        ("PROVIDER_WH", "canary-provider-webhook-8a71"),
    ];
    let src = r#"[server]
admin_key = "${ADMIN}"
[environments.production]
api_keys = ["${PROD_KEY}"]
webhook_secret = "${WH_SECRET}"
webhook_secrets = ["${WH_OLD}"]
[connectors.hubspot]
preset = "hubspot"
auth = { type = "oauth2", client_id = "public-client-id", client_secret = "${CLIENT_SECRET}" }
webhooks = { secret = "${PROVIDER_WH}", secrets = ["${PROVIDER_WH}"] }
"#;
    let config = Config::from_str(src, Path::new("t.toml"), &env_of(&canaries))
        .unwrap_or_else(|e| panic!("{e}"));
    let cloned = config.clone();
    for debug in [format!("{config:?}"), format!("{cloned:#?}")] {
        assert!(
            debug.contains("public-client-id"),
            "Debug output is not empty"
        );
        for (_, secret) in canaries {
            assert!(
                !debug.contains(secret),
                "secret leaked in Debug output: {debug}"
            );
            assert!(
                !debug.contains(&secret[..10]),
                "secret prefix leaked: {debug}"
            );
        }
    }
}
