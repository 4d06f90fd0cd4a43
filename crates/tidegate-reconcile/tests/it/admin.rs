//! `GET /admin/reconcile` on the real gateway app: admin key required; per connector/account
//! the last run's times, scanned, missed, state and last error.

use http::Request;
use tidegate_reconcile::NoProgress;
use tower::ServiceExt;

use crate::support::*;

async fn get(app: &axum::Router, key: Option<&str>) -> (u16, serde_json::Value) {
    let mut req = Request::get("/admin/reconcile");
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    let resp = app
        .clone()
        .oneshot(req.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_reconcile_lists_every_cursor() {
    let h = Harness::start(100, "5m").await;
    h.records.seed(250, now_ms() - 60_000);
    let r = h.reconciler(fast_options()).await;
    r.run("crm", ACCOUNT, &NoProgress).await.unwrap();

    let mut config = h.config.clone();
    config.server.admin_key = Some("admin-secret-key".to_owned().into());
    let app = tidegate_gateway::App::builder(config)
        .extension(r.clone())
        .build()
        .unwrap()
        .router();
    let (status, body) = get(&app, None).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = get(&app, Some("admin-secret-key")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["enabled"], true);
    let rows = body["reconcile"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row["connector"], "crm");
    assert_eq!(row["account_id"], ACCOUNT);
    assert_eq!(row["object"], "record");
    assert_eq!(row["state"], "idle");
    assert_eq!(
        (row["scanned"].as_u64(), row["missed"].as_u64()),
        (Some(250), Some(250))
    );
    assert!(row["last_run_started_at"].as_str().unwrap().ends_with('Z'));
    assert!(row["last_run_ended_at"].is_string());
    assert!(row["high_water_mark"].is_string());
    assert!(row["last_error"].is_null());
    h.stop();
}
