//! End to end over HTTP: a config (parsed by tidegate-config, GitHub preset) → the events
//! runtime → its axum routes on a loopback port; the sandbox fires provider-signed webhooks at
//! it; a worker delivers `record.changed` to a receiver; a large one goes through the claim
//! check, fetched once (200) then 410.

use std::{path::Path, sync::Arc, time::SystemTime};

use futures_util::future::BoxFuture;
use tidegate_events::{
    ManualClock, delivery::DeliveryWorker, inbound::AccountDirectory, wiring::EventsRuntime,
};
use tidegate_sandbox::webhooks::{WebhookScheme, fire};

use crate::support::*;

struct OneAccount;

impl AccountDirectory for OneAccount {
    fn environment_of<'a>(
        &'a self,
        connector: &'a str,
        account_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, tidegate_core::BoxError>> {
        let env = (connector == "gh" && account_id == "acc_1").then(|| "production".to_owned());
        Box::pin(async move { Ok(env) })
    }
}

#[tokio::test]
async fn webhook_in_event_out_and_claim_check_over_http() {
    let receiver = Receiver::start(Mode::Ok, 0).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let toml = format!(
        r#"
[server]
public_url = "http://{addr}"
[claim_check]
url = "memory://"
inline_limit = "1KiB"
[environments.production]
api_keys = ["k"]
webhook_url = "{url}"
webhook_secret = "{SECRET}"
[connectors.gh]
preset = "github"
base_url = "https://api.github.com"
auth = {{ type = "none" }}
webhooks = {{ secret = "gh-secret", object = "'issue'", id = "$string(issue.id)", version = "issue.updated_at" }}
"#,
        url = receiver.url()
    );
    let config = tidegate_config::Config::from_str(&toml, Path::new("tidegate.toml"), &|_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    let (store, _dir, _) = sqlite_store().await;
    let clock = ManualClock::starting_now();
    let rt = EventsRuntime::with_store(
        &config,
        store.clone(),
        kek(),
        Arc::new(OneAccount),
        Arc::new(clock.clone()),
    )
    .unwrap();
    let app: axum::Router = rt.router();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let base = format!("http://{addr}");
    let now = SystemTime::now();

    // 1. A small signed webhook → 202 → delivered as record.changed with the payload inline.
    let small = br#"{"action":"edited","issue":{"id":7,"updated_at":"2026-11-29T10:00:00Z"}}"#;
    let s = fire(
        &format!("{base}/webhooks/gh/acc_1"),
        WebhookScheme::Github,
        "gh-secret",
        small,
        now,
    )
    .await
    .unwrap();
    assert_eq!(s, 202);
    // 2. Bad signature → 401; unknown account → 404.
    let s = fire(
        &format!("{base}/webhooks/gh/acc_1"),
        WebhookScheme::Github,
        "not-the-secret",
        small,
        now,
    )
    .await
    .unwrap();
    assert_eq!(s, 401);
    let s = fire(
        &format!("{base}/webhooks/gh/acc_404"),
        WebhookScheme::Github,
        "gh-secret",
        small,
        now,
    )
    .await
    .unwrap();
    assert_eq!(s, 404);
    // 3. A large one → claim check.
    let big = format!(
        r#"{{"issue":{{"id":8,"updated_at":"x"}},"body":"{CANARY}{}"}}"#,
        "b".repeat(4096)
    );
    let s = fire(
        &format!("{base}/webhooks/gh/acc_1"),
        WebhookScheme::Github,
        "gh-secret",
        big.as_bytes(),
        now,
    )
    .await
    .unwrap();
    assert_eq!(s, 202);

    let worker: DeliveryWorker = rt.worker();
    worker.run_once().await.unwrap();
    let caps = receiver.captured();
    assert_eq!(caps.len(), 2);
    let events: Vec<serde_json::Value> = caps
        .iter()
        .map(|c| serde_json::from_slice(&c.body).unwrap())
        .collect();
    let small_ev = events
        .iter()
        .find(|e| e["data"]["id"] == "7")
        .expect("small event");
    assert_eq!(small_ev["type"], "record.changed");
    assert_eq!(small_ev["connector"], "gh");
    assert_eq!(small_ev["integrated_account_id"], "acc_1");
    assert_eq!(small_ev["data"]["object"], "issue");
    assert_eq!(small_ev["data"]["version"], "2026-11-29T10:00:00Z");
    assert_eq!(small_ev["data"]["source"], "webhook");
    assert_eq!(small_ev["data"]["payload"]["action"], "edited");

    let big_ev = events
        .iter()
        .find(|e| e["data"]["id"] == "8")
        .expect("big event");
    let url = big_ev["data"]["payload"]["claim_check"]["url"]
        .as_str()
        .unwrap();
    assert!(url.starts_with(&format!("{base}/claims/")), "{url}");
    assert!(big_ev["data"]["payload"]["claim_check"]["expires_at"].is_string());
    assert!(
        !caps
            .iter()
            .any(|c| c.body.windows(CANARY.len()).any(|w| w == CANARY.as_bytes())),
        "big body not inline"
    );

    let http = reqwest::Client::new();
    let r = http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.bytes().await.unwrap(), big.as_bytes());
    let r = http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 410);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = http
        .get(format!("{base}/claims/clm_x?token=1.abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // 4. The GitHub delivery id dedups a redelivery of the same event (a new version, so the
    //    delivered-versions ledger does not decide it).
    let small: &[u8] =
        br#"{"action":"edited","issue":{"id":7,"updated_at":"2026-11-29T11:00:00Z"}}"#;
    let headers = tidegate_sandbox::webhooks::sign_for_scheme(
        WebhookScheme::Github,
        "gh-secret",
        &http::Method::POST,
        "",
        small,
        now,
    );
    let send = || {
        let mut req = http
            .post(format!("{base}/webhooks/gh/acc_1"))
            .body(small.to_vec());
        for (k, v) in &headers {
            req = req.header(k.as_str(), v.to_str().unwrap());
        }
        req.send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 202, "{:?}", first.text().await);
    let dup = send().await.unwrap();
    assert_eq!(dup.status(), 200);
    assert_eq!(
        dup.json::<serde_json::Value>().await.unwrap()["duplicate"],
        true
    );
}
