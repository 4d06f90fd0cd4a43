//! Invalid configs: every problem is reported, each as `PATH:LINE:COL: message`.

use std::path::Path;

use tidegate_config::Config;

use crate::support::{load, load_err, minimal};

/// The acceptance case: an unknown key, a bad duration and an unset variable in one file are
/// three lines, not one.
#[test]
fn three_different_errors_are_all_reported_with_locations() {
    let src = r#"[server]
listen = "127.0.0.1:4000"

[environments.production]
api_keys = ["${TIDEGATE_PROD_KEY}"]

[connectors.hubspot]
preset = "hubspot"
timeout = "15 parsecs"
breakr = { consecutive_failures = 5 }
auth = { type = "oauth2", client_id = "id", client_secret = "secret" }
"#;
    let errors = Config::from_str(src, Path::new("conf/tidegate.toml"), &|_| None).unwrap_err();
    assert_eq!(errors.len(), 3);
    let lines: Vec<String> = errors.to_string().lines().map(str::to_owned).collect();
    assert_eq!(
        lines,
        [
            "conf/tidegate.toml:5:13: environment variable `TIDEGATE_PROD_KEY` is not set \
             (write ${TIDEGATE_PROD_KEY:-default} to give a default)",
            "conf/tidegate.toml:9:11: invalid duration \"15 parsecs\": expected a number \
             followed by ms, s, m, h or d",
            "conf/tidegate.toml:10:1: unknown key `breakr` in connector `hubspot`; expected one \
             of: preset, category, base_url, timeout, attempt_timeout, body_idle_timeout, \
             concurrency, auth, breaker, retry, idempotency, rate_limit, errors, \
             request_id_header, sla, webhooks, reconcile, logging",
        ]
    );
    let first = &errors.errors[0];
    assert_eq!(
        (first.path.as_path(), first.line, first.col),
        (Path::new("conf/tidegate.toml"), 5, 13)
    );
}

#[test]
fn several_errors_in_one_table_are_all_reported() {
    let lines = load_err(&minimal(
        r#"base_url = "https://api.example.com"
timeout = "soon"
retries = 3
concurrency = "many"
breaker = { consecutive_failures = 5, opn_for = "30s" }"#,
    ));
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(
        lines[0].starts_with("tidegate.toml:8:11: invalid duration \"soon\""),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with("tidegate.toml:9:1: unknown key `retries` in connector `crm`"));
    assert!(lines[2].starts_with("tidegate.toml:10:15: invalid type: string \"many\""));
    assert!(
        lines[3].starts_with(
            "tidegate.toml:11:39: unknown key `opn_for` in `connectors.crm.breaker`; expected one of: scope,"
        ),
        "{}",
        lines[3]
    );
}

#[test]
fn errors_in_different_sections_and_connectors_are_all_reported() {
    let src = r#"[server]
listen = "not an address"

[logging]
body_sample_rate = 1.5
otlp_endpoint = "collector:4318"

[events]
dead_letter_ttl = "48h"

[environments.production]
api_keys = ["k1"]

[connectors.a]
base_url = "api.example.com"

[connectors.b]
base_url = "https://b.example.com"
retry = { on = ["429"] }
"#;
    let lines = load_err(src);
    assert_eq!(
        lines,
        [
            "tidegate.toml:2:10: invalid socket address syntax",
            "tidegate.toml:5:20: `logging.body_sample_rate` must be between 0 and 1, found 1.5",
            "tidegate.toml:6:17: `logging.otlp_endpoint`: invalid URL \"collector:4318\": expected \
             an absolute http:// or https:// URL",
            "tidegate.toml:15:12: `base_url`: invalid URL \"api.example.com\": expected an \
             absolute http:// or https:// URL",
            "tidegate.toml:19:17: 429 is never retried by the gateway: the caller owns \
             rate-limit backoff",
        ],
        "a dead_letter_ttl over 24h is an audit finding, not a config error"
    );
}

#[test]
fn unknown_sections_and_missing_required_sections() {
    let lines = load_err("[sever]\nlisten = \"127.0.0.1:1\"\n");
    assert_eq!(
        lines,
        [
            "tidegate.toml:1:1: missing section `[server]` (it may be empty)",
            "tidegate.toml:1:1: missing section `[environments.NAME]`: define at least one \
             environment with api_keys",
            "tidegate.toml:1:1: missing section `[connectors.NAME]`: define at least one connector",
            "tidegate.toml:1:2: unknown section `sever`; expected one of: server, storage, locks, \
             keys, claim_check, logging, events, audit, environments, connectors",
        ]
    );
}

#[test]
fn missing_base_url_and_missing_api_keys() {
    let src = "[server]\n[environments.dev]\nwebhook_url = \"https://x.example\"\n[connectors.crm]\ntimeout = \"5s\"\n";
    let lines = load_err(src);
    assert_eq!(
        lines,
        [
            "tidegate.toml:2:1: environment `dev` needs at least one entry in api_keys (callers \
             authenticate with it)",
            "tidegate.toml:4:1: missing key `base_url` in connector `crm`",
        ]
    );
}

#[test]
fn syntax_errors_are_located() {
    let lines = load_err("[server]\nlisten = \"127.0.0.1:4000\n");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("tidegate.toml:2:"), "{}", lines[0]);
    assert!(lines[0].contains("TOML syntax"), "{}", lines[0]);
}

#[test]
fn auth_errors_point_inside_the_auth_table() {
    let lines = load_err(&minimal(
        "base_url = \"https://x.example\"\nauth = { type = \"oauth2\", client_id = \"id\", client_secret = \"s\", token_url = \"https://t.example\", scope = [\"a\"], refresh_before = [\"3m\", \"1m\"] }",
    ));
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].starts_with("tidegate.toml:8:99: unknown key `scope` in `connectors.crm.auth`; expected one of: client_id,"),
        "{}",
        lines[0]
    );
    assert_eq!(
        lines[1],
        "tidegate.toml:8:131: `auth.refresh_before` is [min, max]: the first must not exceed the second"
    );

    let lines = load_err(&minimal(
        "base_url = \"https://x.example\"\nauth = { type = \"oauth\" }",
    ));
    assert_eq!(
        lines,
        [
            "tidegate.toml:8:17: unknown auth type `oauth`; expected one of: oauth2, api_key, basic, none"
        ]
    );
    let lines = load_err(&minimal(
        "base_url = \"https://x.example\"\nauth = { header = \"X\" }",
    ));
    assert_eq!(
        lines,
        [
            "tidegate.toml:8:8: missing key `type` in `connectors.crm.auth`; expected one of: oauth2, api_key, basic, none"
        ]
    );
    let lines = load_err(&minimal(
        "base_url = \"https://x.example\"\nauth = { type = \"basic\", user = \"x\" }",
    ));
    assert_eq!(
        lines,
        ["tidegate.toml:8:26: unknown key `user` in `connectors.crm.auth`; it takes no keys"]
    );
}

#[test]
fn semantic_checks_are_located() {
    let lines = load_err(&minimal(
        r#"base_url = "https://x.example"
timeout = "0s"
attempt_timeout = "20s"
breaker = { failure_rate = "150%", failure_statuses = [500, 429], window = "60s", window_calls = 10 }
rate_limit = { reset_unit = "fortnights", local = "100 per 10s" }
webhooks = { tolerance = "0s" }
logging = { body = "allowlist" }"#,
    ));
    assert_eq!(
        lines,
        [
            "tidegate.toml:8:11: `connectors.crm.timeout` must be greater than zero",
            "tidegate.toml:9:19: `attempt_timeout` (20s) is longer than `timeout` (0s), the \
             deadline of the whole call",
            "tidegate.toml:10:11: breaker: set either `window_calls` (count-based) or `window` \
             (time-based), not both",
            "tidegate.toml:11:29: `connectors.crm.rate_limit.reset_unit`: unknown value \
             \"fortnights\"; expected one of: seconds, ms, epoch_seconds, epoch_ms, window, \
             window_ms, iso8601, http_date, auto",
            "tidegate.toml:11:51: invalid rate \"100 per 10s\": expected REQUESTS/DURATION, e.g. \
             \"100/10s\"",
            "tidegate.toml:12:26: `connectors.crm.webhooks.tolerance` must be greater than zero",
            "tidegate.toml:13:11: `logging.body = \"allowlist\"` needs `logging.fields`: the JSON \
             keys that may be logged",
        ]
    );
    let lines = load_err(&minimal(
        r#"base_url = "https://x.example"
breaker = { failure_rate = "150%", failure_statuses = [500, 429] }"#,
    ));
    assert_eq!(
        lines,
        [
            "tidegate.toml:8:28: `connectors.crm.breaker.failure_rate` must be between 0 and 1 \
             (or a percentage such as \"50%\"), found 1.5",
            "tidegate.toml:8:61: 429 never counts as a breaker failure: the caller owns \
             rate-limit backoff",
        ]
    );
}

#[test]
fn an_api_key_must_identify_one_environment() {
    let src = "[server]\n[environments.a]\napi_keys = [\"same\"]\n[environments.b]\napi_keys = [\"other\", \"same\"]\n[connectors.c]\nbase_url = \"https://c.example\"\n";
    let lines = load_err(src);
    assert_eq!(
        lines,
        [
            "tidegate.toml:5:22: this api key is already used by environment `a`; each key must \
          identify exactly one environment"
        ]
    );
}

#[test]
fn interpolated_secrets_never_appear_in_messages() {
    let src = minimal("base_url = \"https://x.example\"\nconcurrency = \"${SECRET}\"");
    let errors = load(&src, &[("SECRET", "sk_live_canary_123")]).unwrap_err();
    let text = errors.to_string();
    assert!(!text.contains("sk_live_canary_123"), "{text}");
    assert_eq!(
        text,
        "tidegate.toml:8:15: invalid type: string \"[interpolated value]\", expected u32"
    );
}

#[test]
fn an_unset_variable_is_reported_once_not_again_as_a_bad_value() {
    let lines = load_err(&minimal(
        "base_url = \"${CRM_URL}\"\ntimeout = \"${CRM_TIMEOUT}\"",
    ));
    assert_eq!(
        lines,
        [
            "tidegate.toml:7:12: environment variable `CRM_URL` is not set (write \
             ${CRM_URL:-default} to give a default)",
            "tidegate.toml:8:11: environment variable `CRM_TIMEOUT` is not set (write \
             ${CRM_TIMEOUT:-default} to give a default)",
        ]
    );
}

#[test]
fn an_unreadable_file_is_reported_at_its_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.toml");
    let errors = Config::load(&path).unwrap_err();
    assert_eq!(errors.len(), 1);
    let line = errors.to_string();
    let expected_prefix = format!("{}:1:1: cannot read: ", path.display());
    assert!(line.starts_with(&expected_prefix), "{line}");
}

#[test]
fn every_missing_key_and_the_errors_after_it_are_reported() {
    let src = "[server]\n[environments.dev]\napi_keys = [\"k\"]\n[connectors.crm]\ntimout = \"5s\"\n[connectors.crm.reconcile]\nobject = \"contact\"\nid = 5\n";
    let lines = load_err(src);
    assert_eq!(lines.len(), 6, "{lines:#?}");
    assert_eq!(
        lines[0],
        "tidegate.toml:4:1: missing key `base_url` in connector `crm`"
    );
    assert!(lines[1].starts_with("tidegate.toml:5:1: unknown key `timout` in connector `crm`"));
    let mut rest = lines[2..].to_vec();
    rest.sort();
    assert_eq!(
        rest,
        [
            "tidegate.toml:6:1: missing key `records` in `connectors.crm.reconcile`",
            "tidegate.toml:6:1: missing key `request` in `connectors.crm.reconcile`",
            "tidegate.toml:6:1: missing key `version` in `connectors.crm.reconcile`",
            "tidegate.toml:8:6: invalid type: integer `5`, expected a string",
        ]
    );
}

#[test]
fn audit_features_must_name_configured_connectors() {
    let src = format!(
        "{}[audit]\ncredential_rotation = \"0s\"\n[audit.features]\nonboarding = [\"crm\", \"hubspto\"]\n",
        minimal("base_url = \"https://x.example\"")
    );
    let lines = load_err(&src);
    assert_eq!(
        lines,
        [
            "tidegate.toml:9:23: `audit.credential_rotation` must be greater than zero",
            "tidegate.toml:11:22: `audit.features.onboarding` names `hubspto`, which is not a \
             configured connector",
        ]
    );
    let ok = format!(
        "{}[audit.features]\nonboarding = [\"crm\"]\n",
        minimal("base_url = \"https://x.example\"")
    );
    let config = crate::support::load_ok(&ok);
    assert_eq!(config.audit.features["onboarding"], ["crm"]);
}
