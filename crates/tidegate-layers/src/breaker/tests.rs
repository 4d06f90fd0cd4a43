use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use tidegate_core::{ErrorCode, RequestContext};
use tower::{Layer, Service, ServiceExt};

use super::*;
use crate::test_support::{Fake, get, settle};

fn settings() -> BreakerSettings {
    BreakerSettings {
        consecutive_failures: Some(3),
        open_for: Duration::from_secs(30),
        open_jitter: 0.0,
        ..BreakerSettings::default()
    }
}

fn stack(
    fake: &Fake,
    settings: BreakerSettings,
) -> (
    BreakerRegistry,
    impl Service<
        http::Request<tidegate_core::Body>,
        Response = http::Response<tidegate_core::Body>,
        Error = tidegate_core::Error,
        Future: Send,
    > + Clone
    + Send
    + 'static,
) {
    let registry = BreakerRegistry::new();
    let svc = CircuitBreakerLayer::new(&registry, "hubspot", settings).layer(fake.service());
    (registry, svc)
}

async fn status_of<S>(svc: &S) -> Result<u16, tidegate_core::Error>
where
    S: Service<
            http::Request<tidegate_core::Body>,
            Response = http::Response<tidegate_core::Body>,
            Error = tidegate_core::Error,
        > + Clone,
{
    svc.clone()
        .oneshot(get("/"))
        .await
        .map(|r| r.status().as_u16())
}

fn state(registry: &BreakerRegistry) -> BreakerState {
    registry.get("hubspot").unwrap().state()
}

#[tokio::test(start_paused = true)]
async fn closed_open_half_open_closed() {
    let fake = Fake::new(503);
    let (registry, svc) = stack(&fake, settings());
    assert_eq!(state(&registry), BreakerState::Closed);

    for _ in 0..3 {
        assert_eq!(status_of(&svc).await.unwrap(), 503);
    }
    assert_eq!(state(&registry), BreakerState::Open);
    assert_eq!(fake.calls.get(), 3);

    // While open: circuit_open with the time left until half-open; the upstream gets nothing.
    tokio::time::advance(Duration::from_secs(10)).await;
    let err = status_of(&svc).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::CircuitOpen);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(20)));
    assert_eq!(fake.calls.get(), 3);
    let snap = &registry.snapshot()[0];
    assert_eq!(
        (
            snap.state,
            snap.opened_count,
            snap.retry_after_s,
            snap.consecutive_failures
        ),
        (BreakerState::Open, 1, 20, 3)
    );

    // After open_for one probe goes through; its success closes the breaker.
    tokio::time::advance(Duration::from_secs(20)).await;
    fake.set_status(200);
    assert_eq!(status_of(&svc).await.unwrap(), 200);
    assert_eq!(state(&registry), BreakerState::Closed);
    assert_eq!(fake.calls.get(), 4);
    assert_eq!(registry.snapshot()[0].consecutive_failures, 0);
    assert_eq!(registry.snapshot()[0].retry_after_s, 0);
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_reopens_for_longer_up_to_the_maximum() {
    let fake = Fake::new(502);
    let (registry, svc) = stack(
        &fake,
        BreakerSettings {
            max_open_for: Some(Duration::from_secs(100)),
            ..settings()
        },
    );
    for _ in 0..3 {
        status_of(&svc).await.unwrap();
    }
    let mut expected = [30u64, 60, 100, 100].into_iter();
    let mut open_for = expected.next().unwrap();
    for next in expected {
        let err = status_of(&svc).await.unwrap_err();
        assert_eq!(err.retry_after(), Some(Duration::from_secs(open_for)));
        tokio::time::advance(Duration::from_secs(open_for)).await;
        // The probe fails (still 502): open again, for twice as long (capped).
        assert_eq!(status_of(&svc).await.unwrap(), 502);
        assert_eq!(state(&registry), BreakerState::Open);
        open_for = next;
    }
    let err = status_of(&svc).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(100)));
    assert_eq!(registry.snapshot()[0].opened_count, 4);

    // A success closes it and resets the growth.
    tokio::time::advance(Duration::from_secs(100)).await;
    fake.set_status(204);
    status_of(&svc).await.unwrap();
    for _ in 0..3 {
        fake.set_status(500);
        status_of(&svc).await.unwrap();
    }
    let err = status_of(&svc).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
}

#[tokio::test(start_paused = true)]
async fn exactly_the_configured_probes_are_admitted_under_100_concurrent_callers() {
    let fake = Fake::new(500);
    let (registry, svc) = stack(
        &fake,
        BreakerSettings {
            half_open_probes: 3,
            ..settings()
        },
    );
    for _ in 0..3 {
        status_of(&svc).await.unwrap();
    }
    tokio::time::advance(Duration::from_secs(30)).await;
    fake.set_status(200);
    fake.hold.store(true, Ordering::SeqCst);

    let callers: Vec<_> = (0..100)
        .map(|_| tokio::spawn(svc.clone().oneshot(get("/"))))
        .collect();
    settle().await;
    assert_eq!(fake.calls.get(), 3 + 3, "3 failures, then exactly 3 probes");
    assert_eq!(state(&registry), BreakerState::HalfOpen);

    fake.gate.add_permits(3);
    let mut admitted = 0;
    let mut refused = 0;
    for caller in callers {
        match caller.await.unwrap().map(|r| r.status().as_u16()) {
            Ok(200) => admitted += 1,
            Err(e) if e.code() == ErrorCode::CircuitOpen => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((admitted, refused), (3, 97));
    assert_eq!(
        state(&registry),
        BreakerState::Closed,
        "all 3 probes succeeded"
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_probe_frees_its_slot() {
    let fake = Fake::new(500);
    let (registry, svc) = stack(&fake, settings());
    for _ in 0..3 {
        status_of(&svc).await.unwrap();
    }
    tokio::time::advance(Duration::from_secs(30)).await;
    fake.set_status(200);
    fake.hold.store(true, Ordering::SeqCst);

    // The probe is admitted, then its caller gives up (an outer timeout drops the future).
    let probe = tokio::time::timeout(Duration::from_secs(1), status_of(&svc)).await;
    assert!(probe.is_err(), "the held probe timed out");
    assert_eq!(fake.calls.get(), 4);
    assert_eq!(state(&registry), BreakerState::HalfOpen);

    // Its slot is free again: the next caller probes (and closes the breaker).
    fake.hold.store(false, Ordering::SeqCst);
    assert_eq!(status_of(&svc).await.unwrap(), 200);
    assert_eq!(fake.calls.get(), 5);
    assert_eq!(state(&registry), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_readied_but_unused_service_reserves_nothing() {
    let fake = Fake::new(500);
    let (registry, mut svc) = stack(&fake, settings());
    for _ in 0..3 {
        status_of(&svc).await.unwrap();
    }
    tokio::time::advance(Duration::from_secs(30)).await;
    fake.set_status(200);
    for _ in 0..5 {
        svc.ready().await.unwrap(); // never called
    }
    assert_eq!(status_of(&svc).await.unwrap(), 200);
    assert_eq!(state(&registry), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn rate_limits_and_client_errors_never_open_it() {
    let fake = Fake::new(429);
    let (registry, svc) = stack(
        &fake,
        BreakerSettings {
            consecutive_failures: Some(1),
            failure_rate: Some(0.01),
            min_calls: 1,
            ..settings()
        },
    );
    for status in [429u16, 400, 401, 403, 404, 409, 422, 430, 499] {
        fake.set_status(status);
        for _ in 0..20 {
            assert_eq!(status_of(&svc).await.unwrap(), status);
        }
    }
    assert_eq!(state(&registry), BreakerState::Closed);
    assert_eq!(registry.snapshot()[0].consecutive_failures, 0);
    assert!(FailureStatuses::from_statuses(&[503, 429]).is_err());
    assert!(FailureStatuses::from_statuses(&[400]).is_err());
}

#[tokio::test(start_paused = true)]
async fn a_429_between_failures_neither_counts_nor_resets_the_streak() {
    let fake = Fake::new(503);
    let (registry, svc) = stack(&fake, settings());
    for status in [503u16, 503, 429, 429] {
        fake.set_status(status);
        status_of(&svc).await.unwrap();
    }
    assert_eq!(registry.snapshot()[0].consecutive_failures, 2);
    fake.set_status(503);
    status_of(&svc).await.unwrap();
    assert_eq!(state(&registry), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn failure_statuses_are_configurable_and_501_is_not_a_default_failure() {
    let fake = Fake::new(501);
    let (registry, svc) = stack(&fake, settings());
    for _ in 0..5 {
        status_of(&svc).await.unwrap();
    }
    assert_eq!(state(&registry), BreakerState::Closed);

    let (registry, svc) = stack(
        &fake,
        BreakerSettings {
            failure_statuses: FailureStatuses::from_statuses(&[501]).unwrap(),
            ..settings()
        },
    );
    for _ in 0..3 {
        status_of(&svc).await.unwrap();
    }
    assert_eq!(state(&registry), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn count_window_opens_at_the_rate_only_after_min_calls() {
    let fake = Fake::new(500);
    let (registry, svc) = stack(
        &fake,
        BreakerSettings {
            consecutive_failures: None,
            failure_rate: Some(0.5),
            window: FailureWindow::Calls(20),
            min_calls: 10,
            ..settings()
        },
    );
    // 9 failures: a 100% rate, but fewer than min_calls calls.
    for _ in 0..9 {
        status_of(&svc).await.unwrap();
    }
    assert_eq!(state(&registry), BreakerState::Closed);
    // The 10th call reaches min_calls at a rate over the threshold.
    status_of(&svc).await.unwrap();
    assert_eq!(state(&registry), BreakerState::Open);

    // Below the threshold it stays closed: after closing (the probe is not part of the new
    // window), 6 successes + 4 failures = 40%.
    tokio::time::advance(Duration::from_secs(30)).await;
    fake.set_status(200);
    status_of(&svc).await.unwrap();
    assert_eq!(state(&registry), BreakerState::Closed);
    for _ in 0..6 {
        status_of(&svc).await.unwrap();
    }
    fake.set_status(500);
    for _ in 0..4 {
        status_of(&svc).await.unwrap();
    }
    assert_eq!(state(&registry), BreakerState::Closed, "4/10 < 50%");
    // One more failure: 5/11 < 50%; another: 6/12 = 50% -> open.
    status_of(&svc).await.unwrap();
    assert_eq!(state(&registry), BreakerState::Closed);
    status_of(&svc).await.unwrap();
    assert_eq!(state(&registry), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn time_window_forgets_old_calls() {
    let fake = Fake::new(500);
    let (registry, svc) = stack(
        &fake,
        BreakerSettings {
            consecutive_failures: None,
            failure_rate: Some(0.5),
            window: FailureWindow::Time(Duration::from_secs(10)),
            min_calls: 4,
            ..settings()
        },
    );
    for _ in 0..3 {
        status_of(&svc).await.unwrap();
    }
    // Those three failures age out of the 10s window.
    tokio::time::advance(Duration::from_secs(11)).await;
    fake.set_status(200);
    for _ in 0..2 {
        status_of(&svc).await.unwrap();
    }
    fake.set_status(500);
    status_of(&svc).await.unwrap();
    assert_eq!(state(&registry), BreakerState::Closed, "3 calls in window");
    status_of(&svc).await.unwrap();
    assert_eq!(state(&registry), BreakerState::Open, "2/4 failures");
}

#[tokio::test(start_paused = true)]
async fn slow_call_rate_opens_the_breaker() {
    let fake = Fake::new(200);
    let registry = BreakerRegistry::new();
    let slow = tower::service_fn(|_req: http::Request<tidegate_core::Body>| async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        crate::test_support::status(200)
    });
    let svc = CircuitBreakerLayer::new(
        &registry,
        "hubspot",
        BreakerSettings {
            consecutive_failures: None,
            slow_call_duration: Some(Duration::from_secs(2)),
            slow_call_rate: Some(0.5),
            min_calls: 2,
            ..settings()
        },
    )
    .layer(slow);
    let _ = fake;
    assert_eq!(status_of(&svc).await.unwrap(), 200);
    assert_eq!(state(&registry), BreakerState::Closed);
    assert_eq!(status_of(&svc).await.unwrap(), 200);
    assert_eq!(state(&registry), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn connect_errors_and_timeouts_are_failures() {
    let registry = BreakerRegistry::new();
    let failing = tower::service_fn(|req: http::Request<tidegate_core::Body>| async move {
        let code = if req.uri().path() == "/timeout" {
            ErrorCode::UpstreamTimeout
        } else if req.uri().path() == "/reauth" {
            ErrorCode::NeedsReauth
        } else {
            ErrorCode::UpstreamUnavailable
        };
        Err::<http::Response<tidegate_core::Body>, _>(tidegate_core::Error::new(code, "x"))
    });
    let svc = CircuitBreakerLayer::new(&registry, "hubspot", settings()).layer(failing);
    for path in ["/reauth", "/reauth", "/reauth", "/reauth"] {
        svc.clone().oneshot(get(path)).await.unwrap_err();
    }
    assert_eq!(
        state(&registry),
        BreakerState::Closed,
        "needs_reauth is not about health"
    );
    for path in ["/timeout", "/connect", "/timeout"] {
        svc.clone().oneshot(get(path)).await.unwrap_err();
    }
    assert_eq!(state(&registry), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn account_scope_keeps_one_breaker_per_account() {
    let fake = Fake::new(500);
    let (registry, svc) = stack(
        &fake,
        BreakerSettings {
            scope: BreakerScope::Account,
            ..settings()
        },
    );
    let for_account = |account: &str| {
        let mut req = get("/");
        req.extensions_mut()
            .insert(RequestContext::new("hubspot").with_account(account));
        req
    };
    for _ in 0..3 {
        svc.clone().oneshot(for_account("acc_1")).await.unwrap();
    }
    let err = svc.clone().oneshot(for_account("acc_1")).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::CircuitOpen);
    // Another account is unaffected.
    assert_eq!(
        svc.clone()
            .oneshot(for_account("acc_2"))
            .await
            .unwrap()
            .status(),
        500
    );
    let snapshot = registry.snapshot();
    let rows: Vec<_> = snapshot
        .iter()
        .map(|s| (s.key.as_str(), s.state.as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            ("hubspot", "closed"),
            ("hubspot/acc_1", "open"),
            ("hubspot/acc_2", "closed")
        ]
    );
    assert!(snapshot.iter().all(|s| s.connector == "hubspot"));
}

#[test]
fn snapshot_serializes_in_the_contract_shape() {
    let snapshot = BreakerSnapshot {
        connector: "hubspot".into(),
        key: "hubspot/acc_1".into(),
        state: BreakerState::HalfOpen,
        consecutive_failures: 2,
        opened_count: 1,
        retry_after_s: 0,
    };
    assert_eq!(
        serde_json::to_value(&snapshot).unwrap(),
        serde_json::json!({ "connector": "hubspot", "key": "hubspot/acc_1", "state": "half_open",
                            "consecutive_failures": 2, "opened_count": 1, "retry_after_s": 0 })
    );
}

#[tokio::test(start_paused = true)]
async fn open_periods_are_jittered_within_ten_percent() {
    let fake = Fake::new(500);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let (_registry, svc) = stack(
            &fake,
            BreakerSettings {
                open_jitter: 0.1,
                ..settings()
            },
        );
        for _ in 0..3 {
            status_of(&svc).await.unwrap();
        }
        let after = status_of(&svc).await.unwrap_err().retry_after().unwrap();
        assert!(after >= Duration::from_secs(27) && after <= Duration::from_secs(33));
        seen.insert(after.as_millis());
    }
    assert!(seen.len() > 1, "jitter varies the period");
}

#[test]
fn state_changes_are_published_to_the_breaker_gauge_without_account_labels() {
    let recorder = tidegate_observe::metrics::prometheus_builder().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        let registry = BreakerRegistry::new();
        let settings = Arc::new(settings());
        let breaker = registry.get_or_create("hubspot", None, &settings);
        let per_account = registry.get_or_create("hubspot", Some("acc_secret_1"), &settings);
        assert!(
            handle
                .render()
                .contains("tidegate_breaker_state{connector=\"hubspot\"} 0")
        );
        for _ in 0..3 {
            breaker
                .try_acquire()
                .unwrap()
                .record(Outcome::Failure, false);
            per_account
                .try_acquire()
                .unwrap()
                .record(Outcome::Failure, false);
        }
        let text = handle.render();
        assert!(
            text.contains("tidegate_breaker_state{connector=\"hubspot\"} 2"),
            "{text}"
        );
        assert!(!text.contains("acc_secret_1"), "no account ids in labels");
    });
}
