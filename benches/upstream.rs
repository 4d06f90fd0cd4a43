//! Upstream semantics per response: rate-limit header normalization and error normalization.
//!
//! `cargo bench --bench upstream`
//!
//! - `headers/*`: extracting [`RateLimitInfo`] from a real-shaped response's headers and writing
//!   the normalized triple + structured fields (what `RateLimitHeadersLayer` does per response),
//!   for a vendor triple (HubSpot), an epoch reset (GitHub), the draft-10 structured pair, and a
//!   response with no rate-limit headers at all (the common fast path).
//! - `errors/*`: building the problem document from a typical error body with the preset's
//!   JSONata expressions (what `ErrorNormalizationLayer` does once the ≤ 64 KiB body is read),
//!   including serializing it. `errors/serde_parse_only` is the floor: parsing the body alone.
//! - `layers/*`: both layers around an in-memory upstream, through tower, body read included.
//!
//! Targets: ≤ 2 µs per header normalization, ≤ 10 µs per typical error normalization.

use std::{hint::black_box, sync::Arc, time::SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use tidegate_core::{Body, Error, RequestContext, body};
use tidegate_upstream::{
    ErrorNormalizationLayer, RateLimitHeadersLayer, RateLimitSettings,
    errors::{ErrorExprs, ErrorSettings, normalize},
    ratelimit::apply_headers,
    settings::{RateLimitParts, rate_limit_settings},
};
use tower::{Layer, ServiceExt};

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(*k, HeaderValue::from_str(v).unwrap());
    }
    map.insert("content-type", HeaderValue::from_static("application/json"));
    map.insert(
        "date",
        HeaderValue::from_static("Sun, 29 Nov 2026 12:00:00 GMT"),
    );
    map.insert("x-request-id", HeaderValue::from_static("b1f6-22"));
    map
}

fn settings(parts: RateLimitParts<'_>) -> RateLimitSettings {
    rate_limit_settings(&parts).unwrap()
}

fn bench_headers(c: &mut Criterion) {
    let now = SystemTime::now();
    let epoch = (now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 60)
        .to_string();
    let cases: Vec<(&str, RateLimitSettings, HeaderMap, StatusCode)> = vec![
        (
            "hubspot_triple",
            settings(RateLimitParts {
                format: Some("hubspot"),
                ..Default::default()
            }),
            headers(&[
                ("x-hubspot-ratelimit-max", "100"),
                ("x-hubspot-ratelimit-remaining", "97"),
                ("x-hubspot-ratelimit-interval-milliseconds", "10000"),
            ]),
            StatusCode::OK,
        ),
        (
            "github_epoch_429",
            settings(RateLimitParts {
                limit: Some("x-ratelimit-limit"),
                remaining: Some("x-ratelimit-remaining"),
                reset: Some("x-ratelimit-reset"),
                reset_unit: Some("epoch_seconds"),
                ..Default::default()
            }),
            headers(&[
                ("x-ratelimit-limit", "5000"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", &epoch),
            ]),
            StatusCode::TOO_MANY_REQUESTS,
        ),
        (
            "ietf_draft10_two_policies",
            RateLimitSettings::default(),
            headers(&[
                (
                    "ratelimit-policy",
                    r#""burst";q=100;w=60,"daily";q=1000;w=86400"#,
                ),
                ("ratelimit", r#""burst";r=50;t=30, "daily";r=999;t=3600"#),
            ]),
            StatusCode::OK,
        ),
        (
            "no_ratelimit_headers",
            RateLimitSettings::default(),
            headers(&[]),
            StatusCode::OK,
        ),
    ];
    let mut group = c.benchmark_group("headers");
    for (name, settings, map, status) in cases {
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                || map.clone(),
                |m| {
                    let info = settings.extract(m, now);
                    apply_headers(m, status, &info);
                    black_box(&info);
                },
                criterion::BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

const SALESFORCE_BODY: &[u8] =
    br#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED","fields":[]}]"#;
const HUBSPOT_BODY: &[u8] = br#"{"status":"error","message":"Property values were not valid","errors":[{"message":"Property \"nmae\" does not exist","in":"nmae"}],"category":"VALIDATION_ERROR","correlationId":"a43683b0-5717-4ceb-80b4-104d02915d8c"}"#;

fn bench_errors(c: &mut Criterion) {
    let ctx = RequestContext::new("salesforce")
        .with_account("acc_1")
        .with_request_id("req_1");
    let salesforce = ErrorSettings::compile(&ErrorExprs {
        code: Some("$[0].errorCode"),
        message: Some("$[0].message"),
        class: Some("$[0].errorCode = 'REQUEST_LIMIT_EXCEEDED' ? 'rate_limited'"),
        ..Default::default()
    })
    .unwrap();
    let hubspot = ErrorSettings::compile(&ErrorExprs {
        code: Some("$exists(category) ? category : errorType"),
        message: Some("message"),
        class: Some("category = 'RATE_LIMITS' or errorType = 'RATE_LIMIT' ? 'rate_limited'"),
        ..Default::default()
    })
    .unwrap();
    let map = headers(&[("sforce-limit-info", "api-usage=5000/5000")]);
    let mut group = c.benchmark_group("errors");
    group.bench_function("salesforce_403_rate_limited", |b| {
        b.iter(|| {
            let p = normalize(
                &salesforce,
                StatusCode::FORBIDDEN,
                &map,
                black_box(SALESFORCE_BODY),
                Some(&ctx),
            )
            .unwrap();
            black_box(p.to_json())
        })
    });
    group.bench_function("hubspot_400_validation", |b| {
        b.iter(|| {
            let p = normalize(
                &hubspot,
                StatusCode::BAD_REQUEST,
                &map,
                black_box(HUBSPOT_BODY),
                Some(&ctx),
            )
            .unwrap();
            black_box(p.to_json())
        })
    });
    group.bench_function("no_expressions_text_body", |b| {
        let plain = ErrorSettings::default();
        b.iter(|| {
            let p = normalize(
                &plain,
                StatusCode::BAD_GATEWAY,
                &map,
                black_box(b"<html>Bad gateway</html>"),
                Some(&ctx),
            )
            .unwrap();
            black_box(p.to_json())
        })
    });
    group.bench_function("serde_parse_only", |b| {
        b.iter(|| {
            black_box(serde_json::from_slice::<serde_json::Value>(black_box(HUBSPOT_BODY)).unwrap())
        })
    });
    group.finish();
}

fn bench_layers(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let rate = Arc::new(settings(RateLimitParts {
        format: Some("salesforce"),
        window: Some(std::time::Duration::from_secs(86_400)),
        ..Default::default()
    }));
    let errors = Arc::new(
        ErrorSettings::compile(&ErrorExprs {
            code: Some("$[0].errorCode"),
            message: Some("$[0].message"),
            class: Some("$[0].errorCode = 'REQUEST_LIMIT_EXCEEDED' ? 'rate_limited'"),
            ..Default::default()
        })
        .unwrap(),
    );
    let make = |status: u16, payload: &'static [u8]| {
        let upstream = tower::service_fn(move |_req: Request<Body>| async move {
            Ok::<_, Error>(
                Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .header("sforce-limit-info", "api-usage=18/5000")
                    .body(body::full(payload))
                    .unwrap(),
            )
        });
        RateLimitHeadersLayer::new(rate.clone())
            .layer(ErrorNormalizationLayer::new(errors.clone()).layer(upstream))
    };
    let mut group = c.benchmark_group("layers");
    for (name, status, payload) in [
        (
            "success_200",
            200u16,
            &br#"{"id":"003xx","name":"Acme"}"#[..],
        ),
        ("error_403_normalized", 403, SALESFORCE_BODY),
    ] {
        let svc = make(status, payload);
        group.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let mut req = Request::new(body::empty());
                    req.extensions_mut()
                        .insert(RequestContext::new("salesforce"));
                    let resp = svc.clone().oneshot(req).await.unwrap();
                    black_box(resp.into_body().collect().await.unwrap().to_bytes())
                })
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
        .sample_size(50);
    targets = bench_headers, bench_errors, bench_layers
}
criterion_main!(benches);
