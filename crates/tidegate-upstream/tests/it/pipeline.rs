//! The layers in a stack: pass-through of successes, the `when` path, the 64 KiB cap, slow
//! bodies, local pacing, expression failures, and the boundary with other layers.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use governor::clock::FakeRelativeClock;
use http::{Request, Response};
use http_body::Frame;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tidegate_core::{Body, BoxError, ErrorCode};
use tidegate_upstream::{
    ErrorNormalizationLayer, ErrorSettings, RateLimitSettings,
    errors::{ErrorExprs, MAX_ERROR_BODY},
    pacing::{LocalPacer, LocalPacingLayer, PacingScope, PacingSettings},
};
use tower::{Layer, Service, ServiceExt, service_fn};

use super::support::{context, through_stack};

/// A body of `frames` frames of `size` bytes each that counts how many were pulled.
struct CountingBody {
    left: usize,
    size: usize,
    fill: u8,
    pulled: Arc<AtomicUsize>,
}

impl http_body::Body for CountingBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        self.pulled.fetch_add(1, Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![
            self.fill;
            self.size
        ])))))
    }
}

fn settings(exprs: ErrorExprs<'_>) -> Arc<ErrorSettings> {
    Arc::new(ErrorSettings::compile(&exprs).unwrap())
}

async fn call<S>(svc: S) -> Response<Body>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = tidegate_core::Error>,
{
    let mut req = Request::new(tidegate_core::body::empty());
    req.extensions_mut().insert(context("test"));
    svc.oneshot(req).await.unwrap()
}

async fn json_body(resp: Response<Body>) -> Value {
    serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap()
}

#[tokio::test]
async fn a_success_passes_through_untouched() {
    let (status, headers, body) = through_stack(
        "test",
        RateLimitSettings::default(),
        ErrorSettings::default(),
        200,
        &[("content-type", "application/json"), ("etag", "\"x\"")],
        r#"{"ok":true}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["etag"], "\"x\"");
    assert_eq!(&body[..], br#"{"ok":true}"#);
}

#[tokio::test]
async fn an_error_without_expressions_still_follows_the_contract() {
    let (status, headers, body) = through_stack(
        "test",
        RateLimitSettings::default(),
        ErrorSettings::default(),
        502,
        &[("content-type", "text/html"), ("x-vendor-trace", "t1")],
        "<html>Bad gateway</html>",
    )
    .await;
    assert_eq!(status, 502);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(
        headers["x-vendor-trace"], "t1",
        "other upstream headers are kept"
    );
    assert_eq!(headers["x-request-id"], "req_1");
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v,
        json!({"type": "https://tidegate.dev/problems/upstream_server_error", "title": "Upstream server error",
               "status": 502, "detail": "<html>Bad gateway</html>", "code": "upstream_server_error", "retryable": true,
               "connector": "test", "integrated_account_id": "acc_1", "request_id": "req_1",
               "upstream": {"status": 502, "message": "<html>Bad gateway</html>", "body": "<html>Bad gateway</html>"}})
    );
}

#[tokio::test]
async fn expressions_see_status_and_headers_and_failures_fall_back() {
    let s = ErrorSettings::compile(&ErrorExprs {
        code: Some("$headers.`x-err` & '/' & $string($status)"),
        message: Some("$number('not a number')"), // a runtime error: falls back, never fails
        class: Some("'no_such_code'"),            // outside the vocabulary: ignored
        retryable: Some("true"),
        ..Default::default()
    })
    .unwrap()
    .with_include_body(false);
    let (status, _, body) = through_stack(
        "test",
        RateLimitSettings::default(),
        s,
        404,
        &[("content-type", "application/json"), ("x-err", "E42")],
        r#"{"message":"gone"}"#,
    )
    .await;
    assert_eq!(status, 404);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["code"], "not_found");
    assert_eq!(v["retryable"], true);
    assert_eq!(v["detail"], "Not found");
    assert_eq!(
        v["upstream"],
        json!({"status": 404, "code": "E42/404"}),
        "include_body = false"
    );
}

#[tokio::test]
async fn an_error_body_over_the_cap_is_not_read_further() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let p = pulled.clone();
    let upstream = service_fn(move |_req: Request<Body>| {
        let body = CountingBody {
            left: 1280,
            size: 8192,
            fill: b'x',
            pulled: p.clone(),
        }; // 10 MiB
        async move {
            Ok::<_, tidegate_core::Error>(
                Response::builder()
                    .status(500)
                    .body(tidegate_core::body::boxed(body))
                    .unwrap(),
            )
        }
    });
    let svc = ErrorNormalizationLayer::new(settings(ErrorExprs::default())).layer(upstream);
    let resp = call(svc).await;
    assert_eq!(resp.status(), 500);
    let v = json_body(resp).await;
    let frames = pulled.load(Ordering::SeqCst);
    assert!(
        frames <= MAX_ERROR_BODY / 8192 + 1,
        "pulled {frames} frames of 8 KiB"
    );
    let body = v["upstream"]["body"].as_str().unwrap();
    assert_eq!(
        body.len(),
        MAX_ERROR_BODY,
        "the problem uses what was read, capped at 64 KiB"
    );
    assert!(v["detail"].as_str().unwrap().chars().count() <= 1025);
}

#[tokio::test]
async fn a_large_success_body_streams_through_byte_for_byte_even_with_when() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let p = pulled.clone();
    let upstream = service_fn(move |_req: Request<Body>| {
        let body = CountingBody {
            left: 64,
            size: 4096,
            fill: b' ',
            pulled: p.clone(),
        }; // 256 KiB
        async move {
            Ok::<_, tidegate_core::Error>(
                Response::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(tidegate_core::body::boxed(body))
                    .unwrap(),
            )
        }
    });
    let s = settings(ErrorExprs {
        when: Some("ok = false"),
        ..Default::default()
    });
    let resp = call(ErrorNormalizationLayer::new(s).layer(upstream)).await;
    assert_eq!(resp.status(), 200);
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(bytes.len(), 64 * 4096);
    assert!(bytes.iter().all(|b| *b == b' '));
    assert_eq!(pulled.load(Ordering::SeqCst), 64);
}

#[tokio::test]
async fn when_is_not_evaluated_on_non_json_or_declared_large_bodies() {
    let s = ErrorSettings::compile(&ErrorExprs {
        when: Some("true"),
        ..Default::default()
    })
    .unwrap();
    let (status, _, body) = through_stack(
        "test",
        RateLimitSettings::default(),
        s.clone(),
        200,
        &[("content-type", "text/csv")],
        "a,b\n",
    )
    .await;
    assert_eq!((status.as_u16(), &body[..]), (200, &b"a,b\n"[..]));
    let (status, _, _) = through_stack(
        "test",
        RateLimitSettings::default(),
        s,
        200,
        &[
            ("content-type", "application/json"),
            ("content-length", "100000"),
        ],
        vec![b' '; 100_000],
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_compressed_error_body_is_not_decoded() {
    let (status, headers, body) = through_stack(
        "test",
        RateLimitSettings::default(),
        ErrorSettings::default(),
        400,
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ],
        vec![0x1f, 0x8b, 0x08, 0x00],
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        headers.get("content-encoding").is_none(),
        "the problem is not gzip"
    );
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["upstream"], json!({"status": 400}));
}

/// A body that yields one chunk and then never ends.
struct Stalled {
    sent: bool,
}

impl http_body::Body for Stalled {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.sent {
            return Poll::Pending;
        }
        self.sent = true;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(
            br#"{"error":"partial"#,
        )))))
    }
}

#[tokio::test(start_paused = true)]
async fn a_stalled_error_body_cannot_stall_the_normalization() {
    let upstream = service_fn(|_req: Request<Body>| async {
        Ok::<_, tidegate_core::Error>(
            Response::builder()
                .status(503)
                .body(tidegate_core::body::boxed(Stalled { sent: false }))
                .unwrap(),
        )
    });
    let svc = ErrorNormalizationLayer::new(settings(ErrorExprs::default())).layer(upstream);
    let started = tokio::time::Instant::now();
    let resp = call(svc).await;
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(10),
        "gave up after body_read_timeout (paused clock)"
    );
    assert_eq!(resp.status(), 503);
    let v = json_body(resp).await;
    assert_eq!(v["upstream"]["body"], r#"{"error":"partial"#);
}

#[tokio::test]
async fn inner_errors_pass_through() {
    let upstream = service_fn(|_req: Request<Body>| async {
        Err::<Response<Body>, _>(tidegate_core::Error::new(
            ErrorCode::UpstreamTimeout,
            "slow",
        ))
    });
    let svc = ErrorNormalizationLayer::new(settings(ErrorExprs::default())).layer(upstream);
    let mut req = Request::new(tidegate_core::body::empty());
    req.extensions_mut().insert(context("test"));
    let err = svc.oneshot(req).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::UpstreamTimeout);
}

#[tokio::test]
async fn an_upstream_429_is_answered_once_never_retried_here() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let upstream = service_fn(move |_req: Request<Body>| {
        c.fetch_add(1, Ordering::SeqCst);
        async {
            Ok::<_, tidegate_core::Error>(
                Response::builder()
                    .status(429)
                    .header("retry-after", "3")
                    .body(tidegate_core::body::empty())
                    .unwrap(),
            )
        }
    });
    let svc = ErrorNormalizationLayer::new(settings(ErrorExprs::default())).layer(upstream);
    let resp = call(svc).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "3");
    assert_eq!(
        resp.extensions().get::<ErrorCode>(),
        Some(&ErrorCode::RateLimited)
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

fn paced(scope: PacingScope, clock: FakeRelativeClock) -> Arc<LocalPacer<FakeRelativeClock>> {
    Arc::new(LocalPacer::with_clock(
        PacingSettings::new(2, Duration::from_secs(10), scope).unwrap(),
        clock,
    ))
}

#[tokio::test]
async fn local_pacing_per_account_rejects_before_the_upstream_and_recovers() {
    let clock = FakeRelativeClock::default();
    let pacer = paced(PacingScope::Account, clock.clone());
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let upstream = service_fn(move |_req: Request<Body>| {
        c.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, tidegate_core::Error>(Response::new(tidegate_core::body::empty())) }
    });
    // Error normalization outside pacing: the gateway's own 429 must pass through untouched.
    let svc = ErrorNormalizationLayer::new(settings(ErrorExprs::default()))
        .layer(LocalPacingLayer::from_pacer(pacer).layer(upstream));
    let send = |account: &'static str| {
        let svc = svc.clone();
        async move {
            let mut req = Request::new(tidegate_core::body::empty());
            req.extensions_mut()
                .insert(context("test").with_account(account));
            svc.oneshot(req).await.unwrap()
        }
    };
    assert_eq!(send("acc_a").await.status(), 200);
    assert_eq!(send("acc_a").await.status(), 200);
    let rejected = send("acc_a").await;
    assert_eq!(rejected.status(), 429);
    assert_eq!(
        rejected.headers()["retry-after"],
        "5",
        "one token every 5 s"
    );
    let v = json_body(rejected).await;
    assert_eq!(v["code"], "rate_limited");
    assert_eq!(v["source"], "gateway");
    assert_eq!(v["integrated_account_id"], "acc_a");
    assert!(v.get("upstream").is_none());
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the rejected request never reached the upstream"
    );
    assert_eq!(
        send("acc_b").await.status(),
        200,
        "another account has its own budget"
    );
    clock.advance(Duration::from_secs(5));
    assert_eq!(send("acc_a").await.status(), 200);
}

#[tokio::test]
async fn local_pacing_per_connector_is_shared() {
    let clock = FakeRelativeClock::default();
    let pacer = paced(PacingScope::Connector, clock);
    assert!(pacer.check(Some(&context("c").with_account("a"))).is_ok());
    assert!(pacer.check(Some(&context("c").with_account("b"))).is_ok());
    let wait = pacer
        .check(Some(&context("c").with_account("c")))
        .unwrap_err();
    assert_eq!(wait, Duration::from_secs(5));
}
