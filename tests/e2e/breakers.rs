//! The circuit breaker and retries through the real gateway, against the sandbox.

use std::time::Duration;

use tidegate_sandbox::{Sandbox, Script};

use crate::support::*;

const ADMIN: &str = "authorization";

fn fragile(upstream: &str, breaker: &str, retry: &str) -> String {
    config_toml(
        upstream,
        &format!(
            r#"
[connectors.fragile]
base_url = "{upstream}"
auth = {{ type = "none" }}
breaker = {breaker}
{retry}
"#
        ),
    )
}

async fn breakers(gateway: &Gateway) -> serde_json::Value {
    let resp = send(
        http::Request::get(gateway.url("/admin/breakers"))
            .header(ADMIN, format!("Bearer {ADMIN_KEY}"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    json(resp).await
}

fn row<'a>(breakers: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    breakers["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["key"] == key)
        .unwrap_or_else(|| panic!("no breaker {key}: {breakers}"))
}

#[tokio::test]
async fn a_5xx_storm_opens_the_breaker_and_the_upstream_stops_being_called() {
    let sandbox = Sandbox::start().await.unwrap();
    sandbox.script("/storm", Script::statuses("503").unwrap());
    let gateway = start_gateway(&fragile(
        &sandbox.base_url(),
        r#"{ consecutive_failures = 3, open_for = "1s", half_open_probes = 1 }"#,
        "",
    ))
    .await;
    let url = gateway.url("/proxy/fragile/storm");
    assert_eq!(row(&breakers(&gateway).await, "fragile")["state"], "closed");

    for _ in 0..3 {
        let resp = send(get(&url).body(empty()).unwrap()).await;
        assert_eq!(resp.status(), 503, "the upstream's own 503s pass through");
    }
    assert_eq!(sandbox.counters().get("/storm"), 3);

    // Open: 503 circuit_open with Retry-After, and the upstream receives nothing more.
    for _ in 0..20 {
        let resp = send(get(&url).body(empty()).unwrap()).await;
        let retry_after: u64 = resp.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (1..=2).contains(&retry_after),
            "open_for 1s ±10%, rounded up: {retry_after}"
        );
        let body = expect_problem(resp, 503, "circuit_open").await;
        assert_eq!(body["retryable"], true);
    }
    assert_eq!(
        sandbox.counters().get("/storm"),
        3,
        "the storm stopped at the breaker"
    );
    let open = breakers(&gateway).await;
    let fragile = row(&open, "fragile");
    assert_eq!(fragile["state"], "open");
    assert_eq!(fragile["opened_count"], 1);
    assert_eq!(fragile["consecutive_failures"], 3);
    assert_eq!(
        row(&open, "crm")["state"],
        "closed",
        "other connectors are unaffected"
    );

    // After open_for, one probe goes through; the upstream has recovered, so it closes.
    sandbox.script("/storm", Script::statuses("200").unwrap());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let resp = send(get(&url).body(empty()).unwrap()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(sandbox.counters().get("/storm"), 4);
    assert_eq!(row(&breakers(&gateway).await, "fragile")["state"], "closed");
}

#[tokio::test]
async fn a_429_storm_never_opens_the_breaker_and_is_never_retried() {
    let sandbox = Sandbox::start().await.unwrap();
    sandbox.script("/limited", Script::statuses("429").unwrap());
    let gateway = start_gateway(&fragile(
        &sandbox.base_url(),
        r#"{ consecutive_failures = 2, open_for = "30s" }"#,
        r#"retry = { max_attempts = 3, backoff_base = "10ms" }"#,
    ))
    .await;
    let url = gateway.url("/proxy/fragile/limited");
    for _ in 0..10 {
        let resp = send(get(&url).body(empty()).unwrap()).await;
        assert_eq!(resp.status(), 429);
    }
    assert_eq!(sandbox.counters().get("/limited"), 10, "no 429 was retried");
    assert_eq!(row(&breakers(&gateway).await, "fragile")["state"], "closed");
}

#[tokio::test]
async fn a_get_is_retried_through_a_503_but_a_post_without_a_key_is_not() {
    let sandbox = Sandbox::start().await.unwrap();
    let gateway = start_gateway(&fragile(
        &sandbox.base_url(),
        r#"{ consecutive_failures = 10 }"#,
        r#"retry = { max_attempts = 3, backoff_base = "10ms" }"#,
    ))
    .await;
    sandbox.script("/read", Script::statuses("503,200").unwrap());
    let resp = send(
        get(&gateway.url("/proxy/fragile/read"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(sandbox.counters().get("/read"), 2);

    sandbox.script("/write", Script::statuses("503,201").unwrap());
    let post = http::Request::post(gateway.url("/proxy/fragile/write"))
        .header("authorization", format!("Bearer {API_KEY}"))
        .body(full("{}"))
        .unwrap();
    assert_eq!(send(post).await.status(), 503);
    assert_eq!(
        sandbox.counters().get("/write"),
        1,
        "a write without a key is sent once"
    );
}
