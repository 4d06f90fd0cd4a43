//! The wait policy, deterministically: an upstream double (the true boundary) answers 429 with
//! `Retry-After: 7` on every third request and one 503; the run asks for exactly 7 s per 429 and
//! one backoff for the 503, then completes. The injected sleeper records the requested delays
//! instead of sleeping (tokio's paused clock cannot be used here: sqlx's pool timeouts would
//! fire while the SQLite worker thread runs), so no real time passes.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use http::{Request, Response};
use tidegate_core::Body;
use tidegate_reconcile::{
    NoProgress, Reconciler, RunOptions, Sleeper, spec::Spec, store::StateStore,
};
use tidegate_stack::ConnectorService;
use tidegate_upstream::expr::JsonataEngine;
use tower::util::BoxCloneSyncService;

use crate::support::{ACCOUNT, Accounts};

fn page(i: u64, pages: u64) -> Response<Body> {
    let results: Vec<serde_json::Value> = (0..10)
        .map(|k| serde_json::json!({ "id": format!("r{i}_{k}"), "version": "1" }))
        .collect();
    let paging = if i + 1 < pages {
        serde_json::json!({ "next": { "after": (i + 1).to_string() } })
    } else {
        serde_json::Value::Null
    };
    Response::builder()
        .header("content-type", "application/json")
        .body(tidegate_core::body::full(
            serde_json::to_vec(&serde_json::json!({ "results": results, "paging": paging }))
                .unwrap(),
        ))
        .unwrap()
}

#[tokio::test]
async fn waits_follow_retry_after_and_backoff() {
    let calls = Arc::new(AtomicU64::new(0));
    let service: ConnectorService = {
        let calls = calls.clone();
        BoxCloneSyncService::new(tower::service_fn(move |req: Request<Body>| {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            let after: u64 = req
                .uri()
                .query()
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("after=")))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            async move {
                Ok::<_, tidegate_core::Error>(if n.is_multiple_of(3) {
                    Response::builder()
                        .status(429)
                        .header("retry-after", "7")
                        .header("content-type", "application/problem+json")
                        .body(tidegate_core::body::full(
                            r#"{"code":"rate_limited","retryable":true,"detail":"slow down"}"#,
                        ))
                        .unwrap()
                } else if n == 4 {
                    Response::builder()
                        .status(503)
                        .body(tidegate_core::body::full(
                            r#"{"code":"upstream_server_error","retryable":true}"#,
                        ))
                        .unwrap()
                } else {
                    page(after, 6)
                })
            }
        }))
    };
    let cfg: tidegate_config::ReconcileConfig = toml::from_str(
        r#"object = "record"
           records = "results"
           id = "id"
           version = "version"
           next_page = "paging.next.after"
           request = { path = "/v1/records", query = { after = "{page}" } }"#,
    )
    .unwrap();
    let spec = Spec::from_config(
        &Arc::new(JsonataEngine::default()),
        &cfg,
        "http://127.0.0.1:1",
    )
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/p.db", dir.path().display());
    let toml = format!(
        "[server]\n[storage]\nurl = \"{url}\"\n[claim_check]\nurl = \"memory://\"\n[environments.production]\napi_keys = [\"k\"]\nwebhook_url = \"http://127.0.0.1:9/x\"\nwebhook_secret = \"{}\"\n[connectors.crm]\nbase_url = \"http://127.0.0.1:1\"\n",
        crate::support::SECRET
    );
    let config =
        tidegate_config::Config::from_str(&toml, std::path::Path::new("t.toml"), &|_| None)
            .unwrap();
    let events = tidegate_events::wiring::EventsRuntime::from_config(
        &config,
        Arc::new(tidegate_crypto::MasterKey::generate()),
        Arc::new(Accounts),
    )
    .await
    .unwrap();
    let waits = Arc::new(std::sync::Mutex::new(Vec::<Duration>::new()));
    let r = Reconciler::from_services(
        [("crm".to_owned(), service, spec)],
        events.publisher.clone(),
        StateStore::connect(&url).await.unwrap(),
        Arc::new(Accounts),
    )
    .with_options(RunOptions {
        sleeper: {
            let waits = waits.clone();
            Sleeper::new(move |d| {
                waits.lock().unwrap().push(d);
                Box::pin(async {})
            })
        },
        backoff_min: Duration::from_secs(2),
        backoff_max: Duration::from_secs(2),
        ..RunOptions::default()
    });

    let report = r.run("crm", ACCOUNT, &NoProgress).await.unwrap();
    assert_eq!((report.scanned, report.missed, report.pages), (60, 60, 6));
    // Requests: 6 pages + 1 × 503 + one 429 for every third request.
    let total = calls.load(Ordering::SeqCst);
    let limited = total / 3;
    assert!(limited >= 2);
    assert_eq!(u64::from(report.waits), limited);
    assert_eq!(total, 6 + 1 + limited);
    let waits = waits.lock().unwrap().clone();
    let sevens = waits
        .iter()
        .filter(|d| **d == Duration::from_secs(7))
        .count() as u64;
    assert_eq!(sevens, limited, "one Retry-After wait per 429: {waits:?}");
    let backoffs: Vec<_> = waits
        .iter()
        .filter(|d| **d != Duration::from_secs(7))
        .collect();
    assert_eq!(backoffs.len(), 1, "one backoff for the 503: {waits:?}");
    assert!(
        *backoffs[0] >= Duration::from_secs(2) && *backoffs[0] <= Duration::from_secs(4),
        "backoff from backoff_min with jitter: {waits:?}"
    );
}
