use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use tidegate_core::{Body, Error, ErrorCode, body};
use tokio::time::Instant;
use tower::{Layer, ServiceExt, service_fn};

use super::*;
use crate::{
    Deadline, IdempotencyKey,
    idempotency::{IdempotencyLayer, IdempotencySettings},
    test_support::{Fake, channel_body, get, read_all, status},
};

/// What the fake upstream saw of each attempt.
#[derive(Clone, Debug, Default)]
struct Seen {
    attempt: Option<u32>,
    key: Option<String>,
    body: Bytes,
}

/// An upstream that answers `statuses` in turn (the last one repeats) and records each attempt.
#[allow(clippy::type_complexity)]
fn scripted(
    statuses: &[u16],
) -> (
    Arc<Mutex<Vec<Seen>>>,
    impl tower::Service<
        http::Request<Body>,
        Response = http::Response<Body>,
        Error = Error,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let statuses: Arc<[u16]> = statuses.into();
    let log = Arc::clone(&seen);
    let svc = service_fn(move |req: http::Request<Body>| {
        let log = Arc::clone(&log);
        let statuses = Arc::clone(&statuses);
        async move {
            let attempt = req.extensions().get::<Attempt>().map(|a| a.0);
            let key = req
                .headers()
                .get("idempotency-key")
                .map(|v| v.to_str().unwrap().to_owned());
            let body = read_all(req.into_body()).await.unwrap();
            let n = {
                let mut log = log.lock().unwrap();
                log.push(Seen { attempt, key, body });
                log.len()
            };
            status(statuses[(n - 1).min(statuses.len() - 1)])
        }
    });
    (seen, svc)
}

fn fast() -> RetrySettings {
    RetrySettings {
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_secs(1),
        ..RetrySettings::default()
    }
}

fn request(method: http::Method, body: &'static str) -> http::Request<Body> {
    http::Request::builder()
        .method(method)
        .uri("/objects")
        .body(body::full(body))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn an_idempotent_get_is_retried_with_attempt_numbers() {
    let (seen, upstream) = scripted(&[503, 502, 200]);
    let svc = RetryLayer::new(fast()).layer(upstream);
    let resp = svc.oneshot(get("/")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let attempts: Vec<_> = seen.lock().unwrap().iter().map(|s| s.attempt).collect();
    assert_eq!(attempts, [Some(1), Some(2), Some(3)]);
}

#[tokio::test(start_paused = true)]
async fn attempts_stop_at_max_attempts_and_return_the_last_answer() {
    let (seen, upstream) = scripted(&[504]);
    let svc = RetryLayer::new(fast()).layer(upstream);
    assert_eq!(svc.oneshot(get("/")).await.unwrap().status(), 504);
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_post_without_an_idempotency_key_is_never_retried() {
    let (seen, upstream) = scripted(&[503, 200]);
    let svc = RetryLayer::new(fast()).layer(upstream);
    let resp = svc
        .oneshot(request(http::Method::POST, "{}"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn retries_of_a_write_reuse_the_same_key_and_body() {
    let (seen, upstream) = scripted(&[503, 503, 201]);
    let svc = IdempotencyLayer::new(IdempotencySettings {
        header: Some(http::HeaderName::from_static("idempotency-key")),
        ..IdempotencySettings::default()
    })
    .layer(RetryLayer::new(fast()).layer(upstream));
    let resp = svc
        .oneshot(request(http::Method::POST, r#"{"amount":42}"#))
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    let key = seen[0].key.clone().expect("a generated key");
    assert_eq!(uuid::Uuid::parse_str(&key).unwrap().get_version_num(), 7);
    assert!(seen.iter().all(|s| s.key.as_deref() == Some(key.as_str())));
    assert!(seen.iter().all(|s| s.body == r#"{"amount":42}"#));
}

#[tokio::test(start_paused = true)]
async fn a_429_is_never_retried_and_cannot_be_configured() {
    let (seen, upstream) = scripted(&[429, 200]);
    let svc = RetryLayer::new(fast()).layer(upstream);
    assert_eq!(svc.oneshot(get("/")).await.unwrap().status(), 429);
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert!(RetryOn::parse(["503", "429"]).is_err());
    assert!(RetryOn::parse(["404"]).is_err());
    assert!(RetryOn::parse(["sometimes"]).is_err());
    assert_eq!(
        RetryOn::parse(["reset", "timeout", "503"]).unwrap(),
        RetryOn {
            unavailable: true,
            timeout: true,
            statuses: vec![503]
        }
    );
}

#[tokio::test(start_paused = true)]
async fn retries_never_sleep_past_the_deadline() {
    // The first backoff (2s+) would end after the 1s deadline: no retry at all.
    let (seen, upstream) = scripted(&[503]);
    let svc = RetryLayer::new(RetrySettings {
        backoff_base: Duration::from_secs(2),
        backoff_max: Duration::from_secs(10),
        ..fast()
    })
    .layer(upstream);
    let mut req = get("/");
    let started = Instant::now();
    req.extensions_mut()
        .insert(Deadline(started + Duration::from_secs(1)));
    assert_eq!(svc.oneshot(req).await.unwrap().status(), 503);
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(started.elapsed(), Duration::ZERO);

    // Short backoffs: retries happen, but stop before the deadline.
    let (seen, upstream) = scripted(&[503]);
    let svc = RetryLayer::new(RetrySettings {
        max_attempts: 1000,
        budget_percent: 1000.0,
        ..fast()
    })
    .layer(upstream);
    let mut req = get("/");
    let started = Instant::now();
    req.extensions_mut()
        .insert(Deadline(started + Duration::from_secs(1)));
    assert_eq!(svc.oneshot(req).await.unwrap().status(), 503);
    assert!(seen.lock().unwrap().len() > 1);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn budget_exhaustion_stops_retries() {
    let (seen, upstream) = scripted(&[503]);
    let svc = RetryLayer::new(RetrySettings {
        budget_percent: 20.0,
        budget_min_per_sec: 0,
        ..fast()
    })
    .layer(upstream);
    for _ in 0..10 {
        assert_eq!(svc.clone().oneshot(get("/")).await.unwrap().status(), 503);
    }
    // 20%: one retry per five calls. Calls 5 and 10 each earn one retry; the rest none.
    assert_eq!(seen.lock().unwrap().len(), 12);
}

#[tokio::test(start_paused = true)]
async fn connect_errors_are_retried_but_circuit_open_is_not() {
    let fake = Fake::new(200);
    let calls = fake.calls.clone();
    let upstream = service_fn(move |req: http::Request<Body>| {
        let n = calls.hit();
        async move {
            match req.uri().path() {
                "/flaky" if n == 1 => Err(Error::new(ErrorCode::UpstreamUnavailable, "reset")),
                "/open" => Err(Error::new(ErrorCode::CircuitOpen, "open")),
                _ => status(200),
            }
        }
    });
    let svc = RetryLayer::new(fast()).layer(upstream);
    assert_eq!(
        svc.clone().oneshot(get("/flaky")).await.unwrap().status(),
        200
    );
    assert_eq!(fake.calls.get(), 2);
    let err = svc.oneshot(get("/open")).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::CircuitOpen);
    assert_eq!(fake.calls.get(), 3);
}

#[tokio::test(start_paused = true)]
async fn an_upstream_retry_after_on_503_is_honoured() {
    let calls = crate::test_support::Calls::default();
    let counter = calls.clone();
    let upstream = service_fn(move |_req: http::Request<Body>| {
        let n = counter.hit();
        async move {
            if n == 1 {
                Ok(http::Response::builder()
                    .status(503)
                    .header("retry-after", "3")
                    .body(body::empty())
                    .unwrap())
            } else {
                status(200)
            }
        }
    });
    let svc = RetryLayer::new(fast()).layer(upstream);
    let started = Instant::now();
    assert_eq!(svc.oneshot(get("/")).await.unwrap().status(), 200);
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert_eq!(calls.get(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_body_over_the_replay_limit_is_sent_once_intact() {
    // Declared too large by Content-Length.
    let (seen, upstream) = scripted(&[503, 200]);
    let svc = RetryLayer::new(RetrySettings {
        max_replay_body: 8,
        ..fast()
    })
    .layer(upstream);
    let req = http::Request::put("/big")
        .header("content-length", "20")
        .body(body::full("01234567890123456789"))
        .unwrap();
    assert_eq!(svc.clone().oneshot(req).await.unwrap().status(), 503);
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(seen.lock().unwrap()[0].body, "01234567890123456789");

    // Unknown length, found too large by a bounded read: streamed once, nothing lost.
    let (seen, upstream) = scripted(&[503, 200]);
    let svc = RetryLayer::new(RetrySettings {
        max_replay_body: 8,
        ..fast()
    })
    .layer(upstream);
    let (tx, streamed) = channel_body();
    let req = http::Request::put("/big").body(streamed).unwrap();
    tokio::spawn(async move {
        for chunk in ["0123", "4567", "89ab", "cdef"] {
            tx.send(Bytes::from_static(chunk.as_bytes())).await.unwrap();
        }
    });
    assert_eq!(svc.oneshot(req).await.unwrap().status(), 503);
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(seen.lock().unwrap()[0].body, "0123456789abcdef");
}

#[tokio::test(start_paused = true)]
async fn a_small_body_of_unknown_length_is_replayed() {
    let (seen, upstream) = scripted(&[502, 200]);
    let svc = RetryLayer::new(fast()).layer(upstream);
    let (tx, streamed) = channel_body();
    let req = http::Request::put("/small").body(streamed).unwrap();
    tokio::spawn(async move {
        tx.send(Bytes::from_static(b"hello ")).await.unwrap();
        tx.send(Bytes::from_static(b"world")).await.unwrap();
    });
    assert_eq!(svc.oneshot(req).await.unwrap().status(), 200);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.body == "hello world"));
}

#[test]
fn replay_safety_by_method_or_key() {
    for method in ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"] {
        let req = http::Request::builder().method(method).body(()).unwrap();
        assert!(is_replay_safe(&req), "{method}");
    }
    let mut post = http::Request::post("/").body(()).unwrap();
    assert!(!is_replay_safe(&post));
    post.extensions_mut().insert(IdempotencyKey("k".into()));
    assert!(is_replay_safe(&post));
    let patch = http::Request::patch("/").body(()).unwrap();
    assert!(!is_replay_safe(&patch));
}
