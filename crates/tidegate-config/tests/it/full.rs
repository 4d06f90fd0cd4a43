//! Valid configs: the CONTRACT §2 example, defaults, interpolation.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::ExposeSecret;
use tidegate_config::{AuthConfig, ByteSize, Config, KeyProvider, check_summary};

use crate::support::{env_of, load, load_ok, minimal};

const CONTRACT: &str = include_str!("../data/contract.toml");

fn contract_env() -> impl Fn(&str) -> Option<String> {
    env_of(&[
        ("TIDEGATE_ADMIN_KEY", "admin-canary"),
        ("TIDEGATE_PROD_KEY", "prod-key-canary"),
        (
            "TIDEGATE_PROD_WEBHOOK_SECRET",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ),
        ("HUBSPOT_CLIENT_ID", "hubspot-client-id"),
        ("HUBSPOT_CLIENT_SECRET", "hubspot-secret-canary"),
    ])
}

#[test]
fn the_contract_example_loads_with_every_value() {
    let config = Config::from_str(
        CONTRACT,
        Path::new("/etc/tidegate/tidegate.toml"),
        &contract_env(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(check_summary(&config), "ok: 1 connectors, 1 environments");

    let server = &config.server;
    assert_eq!(
        server.listen,
        "127.0.0.1:4000".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        server.admin_key.as_ref().unwrap().expose_secret(),
        "admin-canary"
    );
    assert_eq!(server.max_request_body, ByteSize(10 * 1024 * 1024));
    assert_eq!(
        server.public_base_url(),
        "https://tidegate.internal.example.com"
    );
    assert_eq!(server.shutdown_grace, Duration::from_secs(30));

    // Relative paths and URLs resolve against /etc/tidegate.
    assert_eq!(
        config.storage.url,
        "sqlite:///etc/tidegate/tidegate-data/tidegate.db"
    );
    assert_eq!(config.locks.url, "local");
    assert_eq!(config.keys.provider, KeyProvider::File);
    assert_eq!(
        config.keys.path.as_deref(),
        Some(Path::new("/etc/tidegate/tidegate-data/master.key"))
    );
    assert_eq!(
        config.claim_check.url,
        "file:///etc/tidegate/tidegate-data/claims"
    );
    assert_eq!(config.claim_check.inline_limit.as_u64(), 256 * 1024);
    assert_eq!(config.claim_check.ttl, Duration::from_secs(900));
    assert_eq!(
        config.logging.file.as_deref(),
        Some(Path::new("/etc/tidegate/tidegate-data/boundary.log"))
    );
    assert_eq!(
        config.logging.retention,
        Some(Duration::from_secs(30 * 86_400))
    );
    assert_eq!(config.logging.body_sample_rate, 0.0);
    assert_eq!(config.logging.redact_headers.len(), 5);
    assert_eq!(config.logging.redact_fields[6], "client_secret");
    let secs = |s: &[u64]| {
        s.iter()
            .map(|s| Duration::from_secs(*s))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        config.events.retry_schedule,
        secs(&[0, 5, 30, 120, 300, 900, 1800])
    );
    assert_eq!(config.events.delivery_timeout, Duration::from_secs(15));
    assert_eq!(config.events.dead_letter_ttl, Duration::from_secs(3600));

    let prod = &config.environments["production"];
    assert_eq!(prod.api_keys[0].expose_secret(), "prod-key-canary");
    assert_eq!(
        prod.webhook_url.as_deref(),
        Some("https://app.example.com/tidegate-events")
    );
    assert!(
        prod.webhook_secret
            .as_ref()
            .unwrap()
            .expose_secret()
            .starts_with("whsec_")
    );

    let hubspot = &config.connectors["hubspot"];
    assert_eq!(hubspot.preset.as_deref(), Some("hubspot"));
    assert_eq!(hubspot.category.as_deref(), Some("crm"), "from the preset");
    assert_eq!(hubspot.base_url, "https://api.hubapi.com");
    assert_eq!(hubspot.timeout, Duration::from_secs(15));
    let AuthConfig::OAuth2(oauth) = &hubspot.auth else {
        panic!("expected oauth2, got {:?}", hubspot.auth)
    };
    assert_eq!(oauth.client_id, "hubspot-client-id");
    assert_eq!(oauth.client_secret.expose_secret(), "hubspot-secret-canary");
    assert_eq!(oauth.token_url, "https://api.hubapi.com/oauth/v1/token");
    assert_eq!(oauth.scopes, ["crm.objects.contacts.read"]);
    assert_eq!(
        oauth.refresh_before,
        [Duration::from_secs(60), Duration::from_secs(180)]
    );
    assert_eq!(
        oauth.revoked_errors,
        ["invalid_grant", "BAD_REFRESH_TOKEN", "INVALID_TOKEN"],
        "from the preset"
    );
    let breaker = hubspot.breaker.as_ref().unwrap();
    assert_eq!(breaker.consecutive_failures, Some(5));
    assert_eq!(breaker.open_for, Duration::from_secs(30));
    assert_eq!(breaker.half_open_probes, 1);
    assert_eq!(breaker.min_calls, 20);
    let retry = hubspot.retry.as_ref().unwrap();
    assert_eq!(retry.max_attempts, 3);
    assert_eq!(retry.on, ["connect", "reset", "502", "503", "504"]);
    assert_eq!(retry.budget_percent, 20.0);
    assert_eq!(retry.backoff_base, Duration::from_millis(100));
    let idem = hubspot.idempotency.as_ref().unwrap();
    assert_eq!(
        idem.header.as_deref(),
        Some("Idempotency-Key"),
        "the connector wins"
    );
    assert_eq!(idem.methods, ["POST", "PATCH"]);
    let rl = hubspot.rate_limit.as_ref().unwrap();
    assert_eq!(
        rl.reset.as_deref(),
        Some("X-HubSpot-RateLimit-Interval-Milliseconds")
    );
    assert_eq!(rl.reset_unit.as_deref(), Some("window_ms"));
    let errors = hubspot.errors.as_ref().unwrap();
    assert_eq!(errors.code.as_deref(), Some("category"));
    assert!(errors.include_body);
    let sla = hubspot.sla.as_ref().unwrap();
    assert_eq!(sla.uptime_percent(), Some(99.95));
    assert_eq!(sla.support_response.as_deref(), Some("Enterprise: 2 hours"));
    let webhooks = hubspot.webhooks.as_ref().unwrap();
    assert_eq!(webhooks.verify.as_deref(), Some("hubspot-v3"));
    assert_eq!(
        webhooks.secret.as_ref().unwrap().expose_secret(),
        "hubspot-secret-canary"
    );
    assert_eq!(
        webhooks.tolerance,
        Some(Duration::from_secs(300)),
        "from the preset"
    );
    assert_eq!(hubspot.body_idle_timeout, Some(Duration::from_secs(30)));
}

#[test]
fn omitted_sections_get_the_embedded_defaults() {
    let config = load_ok(&minimal("base_url = \"https://crm.example.com/v1\""));
    assert_eq!(check_summary(&config), "ok: 1 connectors, 1 environments");
    assert_eq!(
        config.server.listen,
        SocketAddr::from(([127, 0, 0, 1], 4000))
    );
    assert!(config.server.admin_key.is_none());
    assert_eq!(config.server.max_request_body.as_u64(), 10 << 20);
    assert_eq!(config.server.public_base_url(), "http://127.0.0.1:4000");
    // `tidegate.toml` has no directory part: paths stay relative to the working directory.
    assert_eq!(config.storage.url, "sqlite://./tidegate-data/tidegate.db");
    assert_eq!(config.locks.url, "local");
    assert_eq!(config.keys.provider, KeyProvider::File);
    assert_eq!(
        config.keys.path,
        Some(PathBuf::from("./tidegate-data/master.key"))
    );
    assert_eq!(config.claim_check.url, "file://./tidegate-data/claims");
    assert_eq!(config.claim_check.inline_limit.as_u64(), 256 << 10);
    assert_eq!(config.claim_check.ttl, Duration::from_secs(15 * 60));
    assert_eq!(config.logging.file, None);
    assert_eq!(
        config.logging.retention,
        Some(Duration::from_secs(30 * 86_400))
    );
    assert_eq!(config.logging.body_sample_rate, 0.0);
    assert_eq!(config.logging.otlp_endpoint, None);
    assert!(
        config
            .logging
            .redact_headers
            .contains(&"authorization".to_owned())
    );
    assert!(
        config
            .logging
            .redact_fields
            .contains(&"refresh_token".to_owned())
    );
    assert_eq!(config.events.retry_schedule.len(), 7);
    assert_eq!(config.events.dead_letter_ttl, Duration::from_secs(3600));
    assert_eq!(config.audit.target_availability, None);

    let crm = &config.connectors["crm"];
    assert_eq!(crm.timeout, Duration::from_secs(15));
    assert!(matches!(crm.auth, AuthConfig::None));
    assert!(crm.breaker.is_none() && crm.retry.is_none() && crm.preset.is_none());
    assert!(config.source_path.is_none());
}

#[test]
fn section_defaults_fill_keys_left_out() {
    let src = format!(
        "{}\n[keys]\nprovider = \"env\"\n[logging]\nretention = \"forever\"\nredact_headers = [\"X-Secret\"]\n[audit]\ntarget_availability = \"99.9%\"\ninstances = 2\n",
        minimal(
            "base_url = \"https://x.example\"\nbreaker = { failure_rate = \"50%\", window_calls = 100 }\nretry = {}\nidempotency = { header = \"Idempotency-Key\", methods = [\"post\"] }"
        )
    );
    let config = load_ok(&src);
    assert_eq!(config.keys.provider, KeyProvider::Env);
    assert_eq!(config.keys.env.as_deref(), Some("TIDEGATE_MASTER_KEY"));
    assert_eq!(config.keys.path, None);
    assert_eq!(config.logging.retention, None);
    assert_eq!(
        config.logging.redact_headers,
        ["x-secret"],
        "header names are lower-cased"
    );
    assert_eq!(config.audit.target_availability, Some(99.9));
    assert_eq!(config.audit.instances, Some(2));
    let crm = &config.connectors["crm"];
    let breaker = crm.breaker.as_ref().unwrap();
    assert_eq!(breaker.failure_rate, Some(0.5));
    assert_eq!(
        breaker.window,
        Some(tidegate_config::WindowConfig::Calls(100))
    );
    assert_eq!(breaker.open_for, Duration::from_secs(30));
    let retry = crm.retry.as_ref().unwrap();
    assert_eq!(retry.max_attempts, 3);
    assert_eq!(retry.on, ["connect", "reset", "502", "503", "504"]);
    assert_eq!(retry.max_replay_body.as_u64(), 64 << 10);
    assert_eq!(retry.backoff_max, Duration::from_secs(5));
    assert_eq!(crm.idempotency.as_ref().unwrap().methods, ["POST"]);
}

#[test]
fn interpolation_defaults_escapes_and_every_string() {
    let src = minimal(
        r#"base_url = "https://${CRM_HOST:-crm.example.com}/api"
timeout = "${CRM_TIMEOUT:-5s}"
category = "$${not_a_var}"
auth = { type = "api_key", header = "${CRM_KEY_HEADER}", prefix = "${EMPTY:-Token }" }
reconcile = { object = "contact", request = { path = "/contacts", query = { since = "{since}", tag = "${TAG}" } }, records = "results", id = "id", version = "updatedAt" }"#,
    );
    let config = load(
        &src,
        &[
            ("CRM_KEY_HEADER", "X-Api-Key"),
            ("TAG", "t1"),
            ("EMPTY", ""),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let crm = &config.connectors["crm"];
    assert_eq!(crm.base_url, "https://crm.example.com/api");
    assert_eq!(crm.timeout, Duration::from_secs(5));
    assert_eq!(crm.category.as_deref(), Some("${not_a_var}"));
    let AuthConfig::ApiKey(key) = &crm.auth else {
        panic!("{:?}", crm.auth)
    };
    assert_eq!(key.header.as_deref(), Some("X-Api-Key"));
    assert_eq!(key.prefix.as_deref(), Some("Token "));
    let reconcile = crm.reconcile.as_ref().unwrap();
    assert_eq!(reconcile.request.method, "GET");
    assert_eq!(reconcile.request.query["since"], "{since}");
    assert_eq!(reconcile.request.query["tag"], "t1");
    assert_eq!(reconcile.overlap, Duration::from_secs(300));
    assert_eq!(reconcile.initial_lookback, Duration::from_secs(86_400));
    assert_eq!(reconcile.since_format, "rfc3339");
}

#[test]
fn several_environments_and_connectors_are_counted() {
    let src = r#"[server]
[environments.production]
api_keys = ["p1", "p2"]
webhook_secrets = ["whsec_old"]
webhook_secret = "whsec_new"
[environments.staging]
api_keys = ["s1"]
[connectors.a]
base_url = "https://a.example"
[connectors.b]
base_url = "http://127.0.0.1:9000"
auth = { type = "basic" }
[connectors.c]
base_url = "https://c.example"
auth = { type = "none" }
"#;
    let config = load_ok(src);
    assert_eq!(check_summary(&config), "ok: 3 connectors, 2 environments");
    let secrets: Vec<&str> = config.environments["production"]
        .signing_secrets()
        .map(|s| s.expose_secret())
        .collect();
    assert_eq!(secrets, ["whsec_new", "whsec_old"]);
    assert!(matches!(config.connectors["b"].auth, AuthConfig::Basic));
}

#[test]
fn an_otlp_endpoint_is_read_from_logging() {
    let src = format!(
        "{}\n[logging]\notlp_endpoint = \"http://127.0.0.1:4318/v1/traces\"\n",
        minimal("base_url = \"https://api.example.com\"")
    );
    let config = load_ok(&src);
    assert_eq!(
        config.logging.otlp_endpoint.as_deref(),
        Some("http://127.0.0.1:4318/v1/traces")
    );
}
