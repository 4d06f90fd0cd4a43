use std::time::Duration;

use bytes::Bytes;
use tidegate_core::{Body, Error, ErrorCode, body};
use tokio::time::Instant;
use tower::{Layer, ServiceExt, service_fn};

use super::*;
use crate::test_support::{channel_body, get, read_all};

fn settings(total_s: u64, idle_s: Option<u64>) -> TimeoutSettings {
    TimeoutSettings {
        total: Duration::from_secs(total_s),
        body_idle: idle_s.map(Duration::from_secs),
    }
}

#[tokio::test(start_paused = true)]
async fn total_deadline_expires_with_upstream_timeout() {
    let slow = service_fn(|_req: http::Request<Body>| async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok::<_, Error>(http::Response::new(body::empty()))
    });
    let svc = TimeoutLayer::new(settings(15, None)).layer(slow);
    let started = Instant::now();
    let err = svc.oneshot(get("/")).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::UpstreamTimeout);
    assert_eq!(err.code().status(), 504);
    assert_eq!(started.elapsed(), Duration::from_secs(15));
}

#[tokio::test(start_paused = true)]
async fn the_deadline_is_published_and_an_earlier_outer_one_is_kept() {
    let seen = service_fn(|req: http::Request<Body>| async move {
        let deadline = Deadline::of(&req).expect("deadline set");
        Ok::<_, Error>(http::Response::new(body::full(format!(
            "{}",
            (deadline - Instant::now()).as_secs()
        ))))
    });
    let svc = TimeoutLayer::new(settings(15, None)).layer(seen);
    let resp = svc.clone().oneshot(get("/")).await.unwrap();
    assert_eq!(read_all(resp.into_body()).await.unwrap(), "15");

    let mut req = get("/");
    req.extensions_mut()
        .insert(Deadline(Instant::now() + Duration::from_secs(4)));
    let resp = svc.oneshot(req).await.unwrap();
    assert_eq!(read_all(resp.into_body()).await.unwrap(), "4");
}

#[tokio::test(start_paused = true)]
async fn attempt_timeout_never_outlives_the_deadline() {
    let slow = service_fn(|_req: http::Request<Body>| async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok::<_, Error>(http::Response::new(body::empty()))
    });
    // Attempt timeout of 10s under a 3s deadline: the attempt ends at the deadline.
    let svc = AttemptTimeoutLayer::new(Duration::from_secs(10)).layer(slow);
    let mut req = get("/");
    req.extensions_mut()
        .insert(Deadline(Instant::now() + Duration::from_secs(3)));
    let started = Instant::now();
    let err = svc.clone().oneshot(req).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::UpstreamTimeout);
    assert_eq!(started.elapsed(), Duration::from_secs(3));

    // Without a deadline the attempt timeout alone applies.
    let started = Instant::now();
    let err = svc.oneshot(get("/")).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::UpstreamTimeout);
    assert_eq!(started.elapsed(), Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn a_fast_answer_is_passed_through_untouched() {
    let ok = service_fn(|_req: http::Request<Body>| async {
        Ok::<_, Error>(
            http::Response::builder()
                .status(503)
                .body(body::full("busy"))
                .unwrap(),
        )
    });
    let svc = TimeoutLayer::new(settings(15, Some(30))).layer(ok);
    let resp = svc.oneshot(get("/")).await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(read_all(resp.into_body()).await.unwrap(), "busy");
}

#[tokio::test(start_paused = true)]
async fn body_idle_timeout_cuts_a_stalled_body() {
    let (tx, stalled) = channel_body();
    let stalled = std::sync::Mutex::new(Some(stalled));
    let upstream = service_fn(move |_req: http::Request<Body>| {
        let body = stalled.lock().unwrap().take().unwrap();
        async move { Ok::<_, Error>(http::Response::new(body)) }
    });
    let svc = TimeoutLayer::new(settings(15, Some(30))).layer(upstream);
    let resp = svc.oneshot(get("/")).await.unwrap();
    tx.send(Bytes::from_static(b"first")).await.unwrap();
    let mut body = resp.into_body();
    use http_body_util::BodyExt;
    let first = body.frame().await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), "first");
    // The upstream now stalls (the sender stays open and silent).
    let started = Instant::now();
    let err = body.frame().await.unwrap().unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    let err = err.downcast::<Error>().expect("a tidegate error");
    assert_eq!(err.code(), ErrorCode::UpstreamTimeout);
    assert!(body.frame().await.is_none(), "a cut body ends");
    drop(tx);
}

#[tokio::test(start_paused = true)]
async fn a_slow_but_steady_body_is_not_cut() {
    let (tx, steady) = channel_body();
    let steady = std::sync::Mutex::new(Some(steady));
    let upstream = service_fn(move |_req: http::Request<Body>| {
        let body = steady.lock().unwrap().take().unwrap();
        async move { Ok::<_, Error>(http::Response::new(body)) }
    });
    // Total 15s, idle 30s; the body takes 100s but never pauses more than 20s.
    let svc = TimeoutLayer::new(settings(15, Some(30))).layer(upstream);
    let resp = svc.oneshot(get("/")).await.unwrap();
    tokio::spawn(async move {
        for i in 0..5 {
            tokio::time::sleep(Duration::from_secs(20)).await;
            tx.send(Bytes::from(format!("{i}"))).await.unwrap();
        }
    });
    assert_eq!(read_all(resp.into_body()).await.unwrap(), "01234");
}
