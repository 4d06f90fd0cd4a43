use std::sync::atomic::Ordering;

use tidegate_core::ErrorCode;
use tower::{Layer, ServiceExt};

use super::*;
use crate::test_support::{Fake, channel_body, get, read_all, settle};

#[tokio::test(start_paused = true)]
async fn over_the_limit_calls_are_shed_at_once() {
    let fake = Fake::new(200);
    fake.hold.store(true, Ordering::SeqCst);
    let layer = BulkheadLayer::new(2);
    let svc = layer.layer(fake.service());
    let held: Vec<_> = (0..2)
        .map(|_| tokio::spawn(svc.clone().oneshot(get("/"))))
        .collect();
    settle().await;
    assert_eq!(layer.in_flight(), 2);

    let err = svc.clone().oneshot(get("/")).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Overloaded);
    assert_eq!(err.code().status(), 503);
    assert_eq!(
        fake.calls.get(),
        2,
        "the shed call never reached the upstream"
    );

    fake.gate.add_permits(2);
    for call in held {
        call.await.unwrap().unwrap();
    }
    assert_eq!(layer.in_flight(), 0);
    fake.hold.store(false, Ordering::SeqCst);
    assert!(svc.oneshot(get("/")).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_streaming_body_holds_its_slot_until_it_ends() {
    let (tx, streamed) = channel_body();
    let streamed = std::sync::Arc::new(std::sync::Mutex::new(Some(streamed)));
    let upstream = tower::service_fn(move |_req: http::Request<tidegate_core::Body>| {
        let body = streamed.lock().unwrap().take().unwrap();
        async move { Ok::<_, tidegate_core::Error>(http::Response::new(body)) }
    });
    let layer = BulkheadLayer::new(1);
    let svc = layer.layer(upstream);
    let resp = svc.clone().oneshot(get("/")).await.unwrap();
    assert_eq!(layer.in_flight(), 1);
    tx.send(bytes::Bytes::from_static(b"data")).await.unwrap();
    drop(tx);
    assert_eq!(read_all(resp.into_body()).await.unwrap(), "data");
    assert_eq!(layer.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_call_frees_its_slot() {
    let fake = Fake::new(200);
    fake.hold.store(true, Ordering::SeqCst);
    let layer = BulkheadLayer::new(1);
    let svc = layer.layer(fake.service());
    let cancelled = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        svc.clone().oneshot(get("/")),
    )
    .await;
    assert!(cancelled.is_err());
    assert_eq!(layer.in_flight(), 0);
}
