use std::sync::{Arc, Mutex};

use http::{HeaderMap, HeaderName};
use tidegate_core::{Body, Error, body};
use tower::{Layer, ServiceExt, service_fn};

use super::*;

async fn through(
    settings: IdempotencySettings,
    req: http::Request<Body>,
) -> (HeaderMap, Option<IdempotencyKey>) {
    let seen = Arc::new(Mutex::new(None));
    let log = Arc::clone(&seen);
    let upstream = service_fn(move |req: http::Request<Body>| {
        *log.lock().unwrap() = Some((
            req.headers().clone(),
            req.extensions().get::<IdempotencyKey>().cloned(),
        ));
        async { Ok::<_, Error>(http::Response::new(body::empty())) }
    });
    IdempotencyLayer::new(settings)
        .layer(upstream)
        .oneshot(req)
        .await
        .unwrap();
    seen.lock().unwrap().take().unwrap()
}

fn provider(header: &'static str) -> IdempotencySettings {
    IdempotencySettings {
        header: Some(HeaderName::from_static(header)),
        ..IdempotencySettings::default()
    }
}

fn req(method: &str, key: Option<&str>) -> http::Request<Body> {
    let mut builder = http::Request::builder().method(method).uri("/v1/charges");
    if let Some(key) = key {
        builder = builder.header("idempotency-key", key);
    }
    builder.body(body::empty()).unwrap()
}

#[tokio::test]
async fn a_write_without_a_key_gets_a_uuid_v7() {
    let (headers, ext) = through(provider("idempotency-key"), req("POST", None)).await;
    let key = headers["idempotency-key"].to_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(key).unwrap().get_version_num(), 7);
    assert_eq!(ext.unwrap().as_str(), key);

    let (headers, _) = through(provider("idempotency-key"), req("PATCH", None)).await;
    assert!(headers.contains_key("idempotency-key"));
}

#[tokio::test]
async fn a_callers_key_is_forwarded_unchanged_under_the_providers_name() {
    let (headers, ext) = through(
        provider("chargebee-idempotency-key"),
        req("POST", Some("order-42")),
    )
    .await;
    assert_eq!(headers["chargebee-idempotency-key"], "order-42");
    assert!(!headers.contains_key("idempotency-key"));
    assert_eq!(ext.unwrap().as_str(), "order-42");

    // The IETF draft's quoted sf-string form is sent raw, as providers expect.
    let (headers, _) = through(
        provider("paypal-request-id"),
        req("POST", Some("\"8e03978e-40d5-43e8-bc93-6894a57f9324\"")),
    )
    .await;
    assert_eq!(
        headers["paypal-request-id"],
        "8e03978e-40d5-43e8-bc93-6894a57f9324"
    );
}

#[tokio::test]
async fn reads_and_other_methods_get_no_generated_key() {
    let (headers, ext) = through(provider("idempotency-key"), req("GET", None)).await;
    assert!(!headers.contains_key("idempotency-key"));
    assert!(ext.is_none());
    let (headers, _) = through(provider("idempotency-key"), req("DELETE", None)).await;
    assert!(!headers.contains_key("idempotency-key"));
}

#[tokio::test]
async fn a_provider_without_support_gets_no_key_and_no_extension() {
    let (headers, ext) = through(
        IdempotencySettings::default(),
        req("POST", Some("order-42")),
    )
    .await;
    assert!(!headers.contains_key("idempotency-key"));
    assert!(ext.is_none(), "so retry never replays this write");
}

#[tokio::test]
async fn a_key_already_under_the_providers_header_is_kept() {
    let request = http::Request::post("/")
        .header("paypal-request-id", "mine")
        .body(body::empty())
        .unwrap();
    let (headers, ext) = through(provider("paypal-request-id"), request).await;
    assert_eq!(headers["paypal-request-id"], "mine");
    assert_eq!(ext.unwrap().as_str(), "mine");
}
