//! Outbound delivery: at-least-once through a flaky receiver and a restart, dead letters and
//! their TTL, 410 disabling, Standard Webhooks headers, and no plaintext at rest. Time is a
//! ManualClock: retries, leases and TTLs are driven, not slept.

use std::{collections::HashMap, sync::Arc, time::Duration};

use tidegate_events::{
    Event, EventType, ManualClock,
    delivery::DeliveryWorker,
    queue::Published,
    verify::{Scheme, WebhookSecret, verifier_for},
};

use tidegate_events::Clock;

use crate::support::*;

fn event(i: usize) -> Event {
    Event::new(
        EventType::RecordChanged,
        "production",
        "crm",
        Some("acc_1".into()),
        serde_json::json!({ "object": "contact", "id": i.to_string(), "source": "webhook",
                            "payload": { "n": i, "note": CANARY } }),
    )
}

/// Every captured request verifies as Standard Webhooks with our secret, at the time it was sent.
fn assert_all_signed(captured: &[Captured]) {
    let v = verifier_for(
        Scheme::StandardWebhooks,
        vec![WebhookSecret::new(SECRET)],
        Duration::from_secs(300),
    );
    for c in captured {
        let ts: u64 = c.headers["webhook-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let at = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(ts);
        let r = v.verify(
            &http::Method::POST,
            &"/events".parse().unwrap(),
            &c.headers,
            &c.body,
            at,
        );
        assert!(r.is_ok(), "{r:?}");
        let body: serde_json::Value = serde_json::from_slice(&c.body).unwrap();
        assert_eq!(
            c.headers["webhook-id"].to_str().unwrap(),
            body["id"].as_str().unwrap()
        );
    }
}

async fn flaky_with_restart(
    store: tidegate_events::store::EventStore,
    reopen: impl AsyncFn() -> tidegate_events::store::EventStore,
) {
    const N: usize = 60;
    let receiver = Receiver::start(Mode::Flaky, 42).await;
    let clock = ManualClock::starting_now();
    let kek = kek();
    let policy = short_policy(24);
    let max_attempts = policy.max_attempts() as usize;
    let q = queue(
        store.clone(),
        kek.clone(),
        policy.clone(),
        &receiver.url(),
        Arc::new(clock.clone()),
    );
    let mut ids = Vec::new();
    for i in 0..N {
        match q.publish(&event(i)).await.unwrap() {
            Published::Queued { id } => ids.push(id),
            other => panic!("{other:?}"),
        }
    }

    // Worker A runs a few rounds, then "crashes" holding leases on a batch it never finishes.
    let a = DeliveryWorker::new(q.clone());
    for _ in 0..3 {
        a.run_once().await.unwrap();
        clock.advance(Duration::from_millis(700));
    }
    let stranded = store
        .claim_due(a.owner(), Clock::now_ms(&clock), policy.lease, 1000)
        .await
        .unwrap();
    drop(a);
    drop(q);

    // Worker B: a new queue over a new connection to the same store, same KEK.
    let store_b = reopen().await;
    let q_b = queue(
        store_b.clone(),
        kek,
        policy.clone(),
        &receiver.url(),
        Arc::new(clock.clone()),
    );
    let b = DeliveryWorker::new(q_b);
    let rounds = drain(&b, &store_b, &clock, Duration::from_millis(500), 2_000).await;
    assert!(rounds < 2_000, "queue did not drain");

    let counts = store_b.counts().await.unwrap();
    assert_eq!(
        (counts.pending, counts.dead),
        (0, 0),
        "nothing dead-lettered, nothing left"
    );
    let captured = receiver.captured();
    let mut attempts: HashMap<String, usize> = HashMap::new();
    let mut delivered: HashMap<String, usize> = HashMap::new();
    for c in &captured {
        let id = c.headers["webhook-id"].to_str().unwrap().to_owned();
        *attempts.entry(id.clone()).or_default() += 1;
        if (200..300).contains(&c.status) {
            *delivered.entry(id).or_default() += 1;
        }
    }
    for id in &ids {
        assert!(
            delivered.get(id).copied().unwrap_or(0) >= 1,
            "{id} never delivered"
        );
        assert!(
            attempts[id] <= max_attempts + 1,
            "{id}: {} attempts",
            attempts[id]
        );
    }
    assert!(
        captured.iter().any(|c| c.status == 429),
        "the receiver threw some 429s"
    );
    assert!(captured.iter().any(|c| c.status >= 500), "and some 5xx");
    assert!(
        !stranded.is_empty() || captured.len() > N,
        "the crash left work for B"
    );
    assert_all_signed(&captured);
    eprintln!(
        "flaky receiver: {N} events, {} requests, {} stranded by the crash, {rounds} rounds of B",
        captured.len(),
        stranded.len()
    );
    receiver.stop();
}

#[tokio::test]
async fn flaky_receiver_and_restart_lose_nothing_sqlite() {
    let (store, dir, url) = sqlite_store().await;
    flaky_with_restart(store, async || {
        tidegate_events::store::EventStore::connect(&url)
            .await
            .unwrap()
    })
    .await;
    drop(dir);
}

#[tokio::test]
async fn flaky_receiver_and_restart_lose_nothing_postgres() {
    let Some((store, url, schema)) =
        pg_store("flaky_receiver_and_restart_lose_nothing_postgres").await
    else {
        return;
    };
    flaky_with_restart(store, async || {
        tidegate_events::store::EventStore::connect(&url)
            .await
            .unwrap()
    })
    .await;
    drop_pg_schema(&schema).await;
}

#[tokio::test]
async fn three_workers_share_a_postgres_queue_without_double_claims() {
    let Some((store, url, schema)) = pg_store("three_workers_share_a_postgres_queue").await else {
        return;
    };
    let receiver = Receiver::start(Mode::Ok, 1).await;
    let clock = ManualClock::starting_now();
    let kek = kek();
    let policy = short_policy(3);
    let q = queue(
        store.clone(),
        kek.clone(),
        policy.clone(),
        &receiver.url(),
        Arc::new(clock.clone()),
    );
    for i in 0..90 {
        q.publish(&event(i)).await.unwrap();
    }
    let mut workers = Vec::new();
    for _ in 0..3 {
        let s = tidegate_events::store::EventStore::connect(&url)
            .await
            .unwrap();
        let mut p = policy.clone();
        p.batch = 10;
        workers.push(DeliveryWorker::new(queue(
            s,
            kek.clone(),
            p,
            &receiver.url(),
            Arc::new(clock.clone()),
        )));
    }
    for _ in 0..20 {
        let rounds = workers.iter().map(|w| w.run_once());
        futures_util::future::join_all(rounds).await;
        if store.counts().await.unwrap().pending == 0 {
            break;
        }
    }
    let captured = receiver.captured();
    let mut seen = HashMap::new();
    for c in &captured {
        *seen
            .entry(c.headers["webhook-id"].to_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 90);
    assert!(
        seen.values().all(|n| *n == 1),
        "SKIP LOCKED: no event sent twice by concurrent workers"
    );
    let per_worker: Vec<u64> = workers
        .iter()
        .map(|w| {
            w.stats()
                .delivered
                .load(std::sync::atomic::Ordering::Relaxed)
        })
        .collect();
    assert_eq!(per_worker.iter().sum::<u64>(), 90);
    assert!(
        per_worker.iter().filter(|n| **n > 0).count() >= 2,
        "work was shared: {per_worker:?}"
    );
    drop_pg_schema(&schema).await;
}

#[tokio::test]
async fn receiver_down_past_schedule_dead_letters_then_ttl_deletes() {
    let (store, _dir, _) = sqlite_store().await;
    let receiver = Receiver::start(Mode::Down, 0).await;
    let clock = ManualClock::starting_now();
    let policy = short_policy(4);
    let ttl = policy.dead_letter_ttl;
    let q = queue(
        store.clone(),
        kek(),
        policy.clone(),
        &receiver.url(),
        Arc::new(clock.clone()),
    );
    q.publish(&event(1)).await.unwrap();
    let w = DeliveryWorker::new(q);
    drain(&w, &store, &clock, Duration::from_secs(1), 200).await;

    assert_eq!(
        receiver.captured().len(),
        4,
        "exactly the scheduled attempts"
    );
    let counts = store.counts().await.unwrap();
    assert_eq!((counts.pending, counts.dead), (0, 1));
    // Timestamps change per attempt; the id does not.
    let caps = receiver.captured();
    let ids: std::collections::HashSet<_> = caps
        .iter()
        .map(|c| c.headers["webhook-id"].clone())
        .collect();
    assert_eq!(ids.len(), 1);
    let ts: Vec<u64> = caps
        .iter()
        .map(|c| {
            c.headers["webhook-timestamp"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(ts.windows(2).all(|w| w[1] > w[0]), "{ts:?}");

    clock.advance(ttl - Duration::from_secs(5));
    w.sweep_once().await.unwrap();
    assert_eq!(store.counts().await.unwrap().dead, 1, "kept until its TTL");
    clock.advance(Duration::from_secs(10));
    assert_eq!(w.sweep_once().await.unwrap(), 1);
    assert_eq!(
        store.counts().await.unwrap().dead,
        0,
        "deleted after its TTL"
    );
    assert!(store.rows().await.unwrap().is_empty());
}

#[tokio::test]
async fn gone_410_disables_the_endpoint() {
    let (store, _dir, _) = sqlite_store().await;
    let receiver = Receiver::start(Mode::Gone, 0).await;
    let clock = ManualClock::starting_now();
    let q = queue(
        store.clone(),
        kek(),
        short_policy(5),
        &receiver.url(),
        Arc::new(clock.clone()),
    );
    q.publish(&event(1)).await.unwrap();
    let w = DeliveryWorker::new(q.clone());
    w.run_once().await.unwrap();
    assert_eq!(receiver.captured().len(), 1, "no retry after 410");
    assert!(
        store
            .is_disabled("production", &receiver.url())
            .await
            .unwrap()
    );
    q.publish(&event(2)).await.unwrap();
    w.run_once().await.unwrap();
    assert_eq!(
        receiver.captured().len(),
        1,
        "a disabled endpoint gets no more requests"
    );
    assert_eq!(store.counts().await.unwrap().dead, 2);
    store
        .enable_endpoint("production", &receiver.url())
        .await
        .unwrap();
    assert!(
        !store
            .is_disabled("production", &receiver.url())
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn queue_rows_hold_no_plaintext_and_rotation_signs_twice() {
    let (store, _dir, _) = sqlite_store().await;
    let receiver = Receiver::start(Mode::Down, 0).await;
    let clock = ManualClock::starting_now();
    let q = queue(
        store.clone(),
        kek(),
        short_policy(3),
        &receiver.url(),
        Arc::new(clock.clone()),
    );
    q.publish(&event(7)).await.unwrap();
    for blob in store.stored_bytes().await.unwrap() {
        assert!(
            !blob.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
            "plaintext at rest"
        );
    }

    // An environment with two secrets (rotation): both signatures present, each verifies alone.
    let new_secret = tidegate_events::sign::generate_secret();
    let mut eps = endpoints(&receiver.url());
    eps.get_mut("production").unwrap().signer =
        tidegate_events::Signer::new([new_secret.as_str(), SECRET]).unwrap();
    receiver.set_mode(Mode::Ok);
    let q2 = tidegate_events::queue::EventQueue::new(
        store.clone(),
        tidegate_events::Envelope::new(kek()),
        short_policy(3),
        eps,
        Arc::new(clock.clone()),
    );
    q2.publish(&event(8)).await.unwrap();
    let w = DeliveryWorker::new(q2);
    // The first queue's row was sealed under another KEK: it is dead-lettered, not sent.
    w.run_once().await.unwrap();
    let caps = receiver.captured();
    let c = caps.last().unwrap();
    let sig = c.headers["webhook-signature"].to_str().unwrap();
    assert_eq!(sig.split(' ').count(), 2);
    for s in [new_secret.as_str(), SECRET] {
        let v = verifier_for(
            Scheme::StandardWebhooks,
            vec![WebhookSecret::new(s)],
            Duration::from_secs(300),
        );
        let ts: u64 = c.headers["webhook-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let at = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(ts);
        v.verify(
            &http::Method::POST,
            &"/".parse().unwrap(),
            &c.headers,
            &c.body,
            at,
        )
        .unwrap();
    }
    assert_eq!(
        caps.len(),
        1,
        "the row sealed under a foreign KEK was not sent"
    );
    assert_eq!(store.counts().await.unwrap().dead, 1);
}

#[tokio::test]
async fn vault_account_events_are_delivered_durably() {
    use tidegate_vault::{AccountEvent, EventSink};
    let (store, _dir, _) = sqlite_store().await;
    let receiver = Receiver::start(Mode::Ok, 0).await;
    let clock = ManualClock::starting_now();
    let q = queue(
        store.clone(),
        kek(),
        short_policy(3),
        &receiver.url(),
        Arc::new(clock.clone()),
    );
    let sink = tidegate_events::vault::DurableEventSink::new(q.clone());
    let ev = AccountEvent::new(
        "account.needs_reauth",
        "production",
        "hubspot",
        "acc_7",
        serde_json::json!({"reason": "invalid_grant"}),
    );
    let id = ev.id.clone();
    sink.emit(ev).await;
    assert_eq!(
        store.counts().await.unwrap().pending,
        1,
        "queued before emit returned"
    );
    DeliveryWorker::new(q).run_once().await.unwrap();
    let caps = receiver.captured();
    assert_eq!(caps.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&caps[0].body).unwrap();
    assert_eq!(body["type"], "account.needs_reauth");
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["integrated_account_id"], "acc_7");
    assert_all_signed(&caps);
}

#[tokio::test]
async fn a_hanging_receiver_hits_the_delivery_timeout_and_is_retried() {
    let (store, _dir, _) = sqlite_store().await;
    let receiver = Receiver::start(Mode::Hang, 0).await;
    let clock = ManualClock::starting_now();
    let mut policy = short_policy(3);
    policy.timeout = Duration::from_millis(300);
    let q = queue(
        store.clone(),
        kek(),
        policy,
        &receiver.url(),
        Arc::new(clock.clone()),
    );
    q.publish(&event(1)).await.unwrap();
    let w = DeliveryWorker::new(q);
    assert_eq!(
        w.run_once().await.unwrap(),
        1,
        "the round ends although the receiver hangs"
    );
    let stats = w.stats();
    assert_eq!(stats.retried.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert_eq!(
        stats.delivered.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    let rows = store.rows().await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].1.as_str(), rows[0].2),
        ("pending", 1),
        "one attempt recorded, retry scheduled"
    );
    assert!(
        rows[0].3 > Clock::now_ms(&clock),
        "next attempt is in the future"
    );
    receiver.stop();
}

/// Log lines written by the subscriber of one test.
#[derive(Clone, Default)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A receiver's error body and a webhook URL's query carry secrets; the attempt logs show the
/// failure (`detail`) with every one of them redacted.
#[tokio::test]
async fn delivery_logs_redact_receiver_bodies_and_urls() {
    const EMAIL: &str = "cnry.receiver@example.com";
    const PASSWORD: &str = "cnryRcvPassword4711";
    const BEARER: &str = "cnryRcvBearer0815";
    const QUERY_TOKEN: &str = "cnryRcvQueryTok2323";

    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // A receiver answering 500 with a body echoing secrets (JSON) — and a plain-text one.
    let app = axum::Router::new()
        .route(
            "/json",
            axum::routing::post(|| async {
                (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    serde_json::json!({ "error": "db down", "user": { "email": EMAIL, "password": PASSWORD } })
                        .to_string(),
                )
            }),
        )
        .route(
            "/text",
            axum::routing::post(|| async {
                (
                    axum::http::StatusCode::BAD_GATEWAY,
                    format!("upstream said: Bearer {BEARER} for {EMAIL}"),
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    for url in [
        format!("http://{addr}/json?access_token={QUERY_TOKEN}"),
        format!("http://{addr}/text"),
        // Nobody listens: a connect error quoting the URL.
        format!(
            "http://127.0.0.1:{}/gone?access_token={QUERY_TOKEN}",
            free_port()
        ),
    ] {
        let (store, _dir, _) = sqlite_store().await;
        let clock = ManualClock::starting_now();
        let q = queue(
            store.clone(),
            kek(),
            short_policy(3),
            &url,
            Arc::new(clock.clone()),
        );
        q.publish(&event(1)).await.unwrap();
        let w = DeliveryWorker::new(q);
        drain(&w, &store, &clock, Duration::from_secs(10), 5).await;
        assert_eq!(store.counts().await.unwrap().dead, 1, "{url}");
    }

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    for canary in [EMAIL, PASSWORD, BEARER, QUERY_TOKEN, CANARY] {
        assert!(!text.contains(canary), "{canary} leaked:\n{text}");
    }
    let details: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|l| l["fields"]["detail"].as_str().map(str::to_owned))
        .filter(|d| !d.is_empty())
        .collect();
    assert!(
        details
            .iter()
            .any(|d| d.contains(r#""error":"db down""#) && d.contains(r#""password":"[REDACTED]""#)),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d == "upstream said: Bearer [REDACTED] for [REDACTED]"),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.contains("access_token=[REDACTED]")),
        "{details:?}"
    );
}
