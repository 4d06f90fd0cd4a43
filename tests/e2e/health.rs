//! CONTRACT §7: health, readiness, metrics, and the admin guard.

use http::Request;

use crate::support::*;

#[tokio::test]
async fn healthz_readyz_and_metrics_need_no_key() {
    let (_sandbox, gw) = start().await;
    let resp = send(Request::get(gw.url("/healthz")).body(empty()).unwrap()).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-request-id"));
    let resp = send(Request::get(gw.url("/readyz")).body(empty()).unwrap()).await;
    assert_eq!(resp.status(), 200);
    let body = json(resp).await;
    assert_eq!(body["status"], "ready");
    assert!(body["checks"].is_array());

    // One proxied request, then its series.
    let resp = send(get(&gw.url("/proxy/crm/echo")).body(empty()).unwrap()).await;
    assert_eq!(resp.status(), 200);
    let resp = send(Request::get(gw.url("/metrics")).body(empty()).unwrap()).await;
    assert_eq!(resp.status(), 200);
    let text = String::from_utf8(
        http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(
        text.contains(
            r#"tidegate_proxy_requests_total{connector="crm",status_class="2xx",code="upstream"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("tidegate_proxy_request_duration_seconds_count{connector=\"crm\"} 1"));
    assert!(!text.contains(API_KEY), "no secret in metrics");
}

#[tokio::test]
async fn admin_routes_need_the_admin_key() {
    let (_sandbox, gw) = start().await;
    let no_key = send(
        Request::get(gw.url("/admin/breakers"))
            .body(empty())
            .unwrap(),
    )
    .await;
    expect_problem(no_key, 401, "unauthorized").await;
    let env_key = send(get(&gw.url("/admin/breakers")).body(empty()).unwrap()).await;
    expect_problem(env_key, 401, "unauthorized").await;
    let admin = send(
        Request::get(gw.url("/admin/no-such-route"))
            .header("authorization", format!("Bearer {ADMIN_KEY}"))
            .body(empty())
            .unwrap(),
    )
    .await;
    expect_problem(admin, 404, "not_found").await;
}
