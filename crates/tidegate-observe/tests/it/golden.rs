//! Golden tests: each kind of exchange yields a line with exactly the contract's field names
//! and types (validated against docs/boundary-log.schema.json).

use std::collections::BTreeSet;

use http::Response;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tidegate_core::{RequestContext, body};
use tidegate_observe::BodyMode;
use tower::{Service, ServiceExt};

use crate::{schema, support::*};

/// The field paths of a line, excluding header names and body contents.
fn field_paths(line: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (k, v) in line.as_object().unwrap() {
        out.insert(k.clone());
        if (k == "request" || k == "response" || k == "error") && v.is_object() {
            for sub in v.as_object().unwrap().keys() {
                out.insert(format!("{k}.{sub}"));
            }
        }
    }
    out
}

/// The contract example's field paths, plus `request.idempotency_key` (always written).
fn contract_paths(with_response_body: bool, with_request_body: bool) -> BTreeSet<String> {
    let example: Value =
        serde_json::from_str(include_str!("../data/contract_example.json")).unwrap();
    let mut paths = field_paths(&example);
    paths.insert("request.idempotency_key".into());
    if !with_response_body {
        paths.remove("response.body");
    }
    if with_request_body {
        paths.insert("request.body".into());
    }
    paths
}

fn assert_valid(line: &Value) {
    if let Err(errors) = schema::validate(&schema::boundary_schema(), line) {
        panic!("line does not match the schema: {errors:?}\n{line:#}");
    }
}

#[tokio::test]
async fn success_is_logged_at_headers_time_without_a_body() {
    let (mut svc, mut rx) = logged(
        upstream_with(|_| {
            Ok(json_response(
                200,
                &[("sforce-request-id", "up-1")],
                r#"{"id":"003xx"}"#,
            ))
        }),
        |l| l,
    );
    let req = request(
        "GET",
        "https://x.my.salesforce.com/services/data/v60.0/sobjects/Contact/003xx?fields=Name",
        &[
            ("authorization", "Bearer 00Dxx!AQ0Ainjected"),
            ("accept", "application/json"),
        ],
        None,
    );
    let resp = svc.ready().await.unwrap().call(req).await.unwrap();
    // Not sampled and not an error: the line is out before the body is read.
    let line = next_line(&mut rx);
    let _ = resp.into_body().collect().await.unwrap();
    assert_valid(&line);
    assert_eq!(field_paths(&line), contract_paths(false, false));
    assert_eq!(line["request_id"], "req_987654321");
    assert_eq!(line["environment_id"], "production");
    assert_eq!(line["integrated_account_id"], "acc_12345");
    assert_eq!(line["connector"], "salesforce");
    assert_eq!(line["attempt"], 1);
    assert_eq!(line["request"]["method"], "GET");
    assert_eq!(line["request"]["headers"]["authorization"], "[REDACTED]");
    assert_eq!(line["request"]["headers"]["accept"], "application/json");
    assert_eq!(
        line["request"]["headers_redacted"],
        json!(["authorization"])
    );
    assert_eq!(line["request"]["idempotency_key"], Value::Null);
    assert_eq!(line["response"]["status"], 200);
    assert_eq!(line["response"]["upstream_request_id"], "up-1");
    assert_eq!(line["response"]["ratelimit_remaining"], Value::Null);
    assert_eq!(line["outcome"], "ok");
}

#[tokio::test]
async fn rate_limited_with_vendor_headers() {
    let (mut svc, mut rx) = logged(
        upstream_with(|_| {
            Ok(json_response(
                429,
                &[
                    ("sforce-request-id", "a3f8x91"),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "38"),
                    ("sforce-limit-info", "api-usage=15000/15000"),
                ],
                r#"[{"errorCode":"REQUEST_LIMIT_EXCEEDED","message":"TotalRequests Limit exceeded."}]"#,
            ))
        }),
        |l| l,
    );
    let req = request(
        "PATCH",
        "https://x.my.salesforce.com/services/data/v60.0/sobjects/Contact/003xx",
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer t"),
            ("idempotency-key", "idem-1"),
        ],
        Some(r#"{"LastName":"Doe"}"#),
    );
    let (status, _) = exchange(&mut svc, req).await.unwrap();
    assert_eq!(status, 429);
    let line = next_line(&mut rx);
    assert_valid(&line);
    assert_eq!(field_paths(&line), contract_paths(true, false));
    assert_eq!(line["response"]["ratelimit_remaining"], 0);
    assert_eq!(line["response"]["ratelimit_reset"], 38);
    assert_eq!(line["response"]["upstream_request_id"], "a3f8x91");
    assert_eq!(line["request"]["idempotency_key"], "idem-1");
    assert_eq!(
        line["response"]["body"],
        json!([{"errorCode":"REQUEST_LIMIT_EXCEEDED","message":"TotalRequests Limit exceeded."}])
    );
    assert_eq!(line["outcome"], "rate_limited");
}

#[tokio::test]
async fn server_error_body_is_logged_redacted_after_the_body_is_read() {
    let (mut svc, mut rx) = logged(
        upstream_with(|_| {
            Ok(json_response(
                500,
                &[],
                r#"{"error":{"message":"failed for jane@example.com","password":"hunter2"}}"#,
            ))
        }),
        |l| l,
    );
    let req = request("POST", "https://x.example/api", &[], Some("{}"));
    let resp = svc.ready().await.unwrap().call(req).await.unwrap();
    assert!(rx.try_recv().is_err(), "an error line waits for its body");
    let _ = resp.into_body().collect().await.unwrap();
    let line = next_line(&mut rx);
    assert_valid(&line);
    assert_eq!(field_paths(&line), contract_paths(true, false));
    assert_eq!(
        line["response"]["body"],
        json!({"error":{"message":"failed for [REDACTED]","password":"[REDACTED]"}})
    );
    assert_eq!(line["outcome"], "upstream_server_error");
}

#[tokio::test]
async fn streamed_large_body_passes_whole_and_logs_its_shape() {
    const SIZE: u64 = 64 * 1024 * 1024;
    let (mut svc, mut rx) = logged(
        upstream_with(|_| {
            Ok(Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(body::boxed(GeneratedBody::new(SIZE)))
                .unwrap())
        }),
        |l| l.sample_rate(1.0),
    );
    let req = request("GET", "https://x.example/export", &[], None);
    let resp = svc.ready().await.unwrap().call(req).await.unwrap();
    let mut body = resp.into_body();
    let mut received = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.unwrap();
        if let Some(data) = frame.data_ref() {
            received += data.len() as u64;
        }
        if received < SIZE {
            assert!(
                rx.try_recv().is_err(),
                "the line waits for the end of the body"
            );
        }
    }
    assert_eq!(received, SIZE);
    let line = next_line(&mut rx);
    assert_valid(&line);
    assert_eq!(field_paths(&line), contract_paths(true, true));
    assert_eq!(
        line["response"]["body"],
        json!({"length": SIZE, "content_type": "application/json", "truncated": true})
    );
    assert_eq!(
        line["request"]["body"],
        json!({"length": 0, "content_type": null})
    );
}

#[tokio::test]
async fn retry_attempt_two_is_its_own_line() {
    let (mut svc, mut rx) = logged(
        upstream_with(|_| Ok(json_response(503, &[("retry-after", "2")], r#"{"e":1}"#))),
        |l| l,
    );
    for attempt in 1..=2 {
        let mut req = request("GET", "https://x.example/a", &[], None);
        req.extensions_mut().insert(Attempt(attempt));
        exchange(&mut svc, req).await.unwrap();
    }
    let first = next_line(&mut rx);
    let second = next_line(&mut rx);
    for line in [&first, &second] {
        assert_valid(line);
        assert_eq!(line["response"]["ratelimit_reset"], 2);
        assert_eq!(line["outcome"], "upstream_server_error");
    }
    assert_eq!(first["attempt"], 1);
    assert_eq!(second["attempt"], 2);
}

#[tokio::test]
async fn failures_without_a_response_have_an_error_member() {
    let (mut svc, mut rx) = logged(
        upstream_with(|_| Err(unavailable("connection reset by peer"))),
        |l| l,
    );
    let req = request("GET", "https://x.example/a", &[], None);
    let err = exchange(&mut svc, req).await.unwrap_err();
    assert_eq!(err.code(), tidegate_core::ErrorCode::UpstreamUnavailable);
    let line = next_line(&mut rx);
    assert_valid(&line);
    assert_eq!(line["response"], Value::Null);
    assert_eq!(line["outcome"], "upstream_unavailable");
    assert!(
        line["error"]["message"]
            .as_str()
            .unwrap()
            .contains("connection reset")
    );
}

#[tokio::test]
async fn sampled_bodies_and_allowlist_mode() {
    let (mut svc, mut rx) = logged(
        upstream_with(|_| {
            Ok(json_response(
                200,
                &[],
                r#"{"id":"1","name":"Ann","email":"a@b.example"}"#,
            ))
        }),
        |l| {
            l.sample_rate(1.0)
                .body_mode(BodyMode::Allowlist(vec!["id".into(), "LastName".into()]))
        },
    );
    let req = request(
        "POST",
        "https://x.example/c",
        &[("content-type", "application/json")],
        Some(r#"{"LastName":"Doe","email":"d@e.example","ssn":"123-45-6789"}"#),
    );
    exchange(&mut svc, req).await.unwrap();
    let line = next_line(&mut rx);
    assert_valid(&line);
    assert_eq!(line["request"]["body"], json!({"LastName":"Doe"}));
    assert_eq!(line["response"]["body"], json!({"id":"1"}));
}

#[tokio::test]
async fn relative_uris_are_resolved_before_redaction() {
    let (mut svc, mut rx) = logged(upstream_with(|_| Ok(json_response(200, &[], "{}"))), |l| {
        l.url_resolver(|uri| format!("https://api.example.com/v2{uri}"))
    });
    let req = request("GET", "/contacts?api_key=k1&limit=2", &[], None);
    exchange(&mut svc, req).await.unwrap();
    let line = next_line(&mut rx);
    assert_eq!(
        line["request"]["url"],
        "https://api.example.com/v2/contacts?api_key=[REDACTED]&limit=2"
    );
}

#[tokio::test]
async fn body_mode_none_never_logs_bodies() {
    let (mut svc, mut rx) = logged(
        upstream_with(|_| Ok(json_response(400, &[], r#"{"bad":"x"}"#))),
        |l| l.sample_rate(1.0).body_mode(BodyMode::None),
    );
    let req = request("POST", "https://x.example/c", &[], Some("{}"));
    let resp = svc.ready().await.unwrap().call(req).await.unwrap();
    // No body needed: emitted at headers time even for an error.
    let line = next_line(&mut rx);
    drop(resp);
    assert_valid(&line);
    assert!(line["response"].get("body").is_none());
    assert!(line["request"].get("body").is_none());
    assert_eq!(line["outcome"], "invalid_request");
}

#[tokio::test]
async fn a_dropped_body_still_emits_its_line() {
    let (mut svc, mut rx) = logged(
        upstream_with(|_| Ok(json_response(502, &[], r#"{"e":"bad gateway"}"#))),
        |l| l,
    );
    let req = request("GET", "https://x.example/a", &[], None);
    let resp = svc.ready().await.unwrap().call(req).await.unwrap();
    drop(resp);
    let line = next_line(&mut rx);
    assert_valid(&line);
    assert_eq!(line["response"]["status"], 502);
    // The body had already arrived: it is taken without waiting (a retry layer drops failed
    // attempts' responses unread).
    assert_eq!(line["response"]["body"], json!({"e": "bad gateway"}));
}

#[tokio::test]
async fn a_dropped_body_that_had_not_arrived_is_logged_as_its_shape() {
    let (mut svc, mut rx) = logged(
        upstream_with(|_| {
            Ok(Response::builder()
                .status(500)
                .header("content-type", "application/json")
                .body(body::boxed(PendingBody))
                .unwrap())
        }),
        |l| l,
    );
    let req = request("GET", "https://x.example/a", &[], None);
    let resp = svc.ready().await.unwrap().call(req).await.unwrap();
    drop(resp);
    let line = next_line(&mut rx);
    assert_valid(&line);
    // Never a partial parse of an unread body: its shape only.
    assert_eq!(
        line["response"]["body"],
        json!({"length": 0, "content_type": "application/json", "truncated": true})
    );
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_exchange_is_logged_as_a_timeout() {
    let (mut svc, mut rx) = logged(
        tower::util::BoxCloneService::new(tower::service_fn(|_req| async {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            Ok::<_, tidegate_core::Error>(Response::new(body::empty()))
        })),
        |l| l,
    );
    let req = request("GET", "https://x.example/slow", &[], None);
    let call = svc.ready().await.unwrap().call(req);
    let timed_out = tokio::time::timeout(std::time::Duration::from_secs(5), call).await;
    assert!(timed_out.is_err());
    let line = next_line(&mut rx);
    assert_valid(&line);
    assert_eq!(line["outcome"], "upstream_timeout");
    assert_eq!(line["error"]["latency_ms"], 5000);
}

#[tokio::test]
async fn a_sensitive_looking_request_id_is_redacted() {
    let (mut svc, mut rx) = logged(upstream_with(|_| Ok(json_response(200, &[], "{}"))), |l| l);
    let mut req = request("GET", "https://x.my.salesforce.com/x", &[], None);
    req.extensions_mut()
        .insert(RequestContext::new("salesforce").with_request_id("jane.doe@example.com"));
    exchange(&mut svc, req).await.unwrap();
    let line = next_line(&mut rx);
    assert_valid(&line);
    assert_eq!(line["request_id"], "[REDACTED]");
    assert!(!line.to_string().contains("jane.doe@example.com"));
}
