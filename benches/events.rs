//! tidegate-events benchmarks (criterion).
//!
//! - `inbound/verify+dedup/*`: verifying one provider webhook with a 4 KiB body plus the dedup
//!   check. Dedup is the in-memory implementation here (the store-backed one is one SQL upsert;
//!   see `inbound/dedup-sqlite` for its cost on a SQLite file).
//! - `outbound/sign`: Standard Webhooks signing of a 4 KiB event, one and two secrets.
//! - `delivery/throughput/{1,3}-workers`: events/s from a SQLite queue file to a local axum
//!   receiver over loopback HTTP (sealed payloads, real signing, real POSTs).
//!
//! Run: `cargo bench --bench events` (add `-- --quick` for a short run).

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tidegate_events::{
    Envelope, Event, EventType, Signer, SystemClock,
    dedup::{Dedup, MemoryDedup, StoreDedup},
    delivery::DeliveryWorker,
    policy::DeliveryPolicy,
    queue::{Endpoint, EventQueue},
    store::EventStore,
    verify::{Scheme, WebhookSecret, verifier_for},
};
use tidegate_sandbox::webhooks::{WebhookScheme, sign_for_scheme};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn body_4k() -> Vec<u8> {
    let mut s = String::from("{\"id\":\"evt_1\",\"data\":{\"pad\":\"");
    while s.len() < 4096 - 4 {
        s.push('x');
    }
    s.push_str("\"}}");
    s.into_bytes()
}

fn inbound(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body = body_4k();
    let now = SystemTime::now();
    let mut g = c.benchmark_group("inbound");
    g.throughput(Throughput::Elements(1));
    for (ws, secret) in [
        (WebhookScheme::StandardWebhooks, SECRET),
        (WebhookScheme::Github, "gh-secret"),
        (WebhookScheme::Stripe, "whsec_stripe"),
        (WebhookScheme::Slack, "slack-secret"),
    ] {
        let scheme: Scheme = ws.name().parse().unwrap();
        let headers = sign_for_scheme(
            ws,
            secret,
            &http::Method::POST,
            "/webhooks/x/acc",
            &body,
            now,
        );
        let verifier = verifier_for(
            scheme,
            vec![WebhookSecret::new(secret)],
            Duration::from_secs(300),
        );
        let dedup = MemoryDedup::new(Arc::new(SystemClock));
        let uri: http::Uri = "/webhooks/x/acc".parse().unwrap();
        let mut n = 0u64;
        g.bench_function(format!("verify+dedup/{}", ws.name()), |b| {
            b.iter(|| {
                let v = verifier
                    .verify(&http::Method::POST, &uri, &headers, &body, now)
                    .unwrap();
                n += 1;
                let id = format!("{}-{n}", v.event_id.as_deref().unwrap_or("id"));
                let fresh = futures_util::FutureExt::now_or_never(dedup.first_seen(
                    "x",
                    &id,
                    Duration::from_secs(3600),
                ))
                .unwrap()
                .unwrap();
                assert!(fresh);
            })
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let store = rt
        .block_on(EventStore::connect(&format!(
            "sqlite://{}/b.db",
            dir.path().display()
        )))
        .unwrap();
    let dedup = StoreDedup::new(store, Arc::new(SystemClock));
    let mut n = 0u64;
    g.bench_function("dedup-sqlite", |b| {
        b.iter(|| {
            n += 1;
            let id = n.to_string();
            assert!(
                rt.block_on(dedup.first_seen("x", &id, Duration::from_secs(3600)))
                    .unwrap()
            );
        })
    });
    g.finish();
}

fn outbound(c: &mut Criterion) {
    let body = body_4k();
    let mut g = c.benchmark_group("outbound");
    g.throughput(Throughput::Elements(1));
    let one = Signer::new([SECRET]).unwrap();
    let two = Signer::new([SECRET, "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"]).unwrap();
    g.bench_function("sign/1-secret", |b| {
        b.iter(|| one.sign("evt_0193", 1_700_000_000, &body))
    });
    g.bench_function("sign/2-secrets", |b| {
        b.iter(|| two.sign("evt_0193", 1_700_000_000, &body))
    });
    g.finish();
}

async fn receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/e",
        axum::routing::post(|| async { http::StatusCode::NO_CONTENT }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/e")
}

fn delivery(c: &mut Criterion) {
    const BATCH: u64 = 200;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = rt.block_on(receiver());
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/q.db", dir.path().display());
    let kek = Arc::new(tidegate_crypto::MasterKey::generate());
    let mut g = c.benchmark_group("delivery");
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(10);
    for workers in [1usize, 3] {
        let (queue, ws) = rt.block_on(async {
            let store = EventStore::connect(&db).await.unwrap();
            let endpoints = HashMap::from([(
                "production".to_owned(),
                Endpoint {
                    url: url.clone(),
                    signer: Signer::new([SECRET]).unwrap(),
                },
            )]);
            let mut policy = DeliveryPolicy::new(
                vec![Duration::ZERO, Duration::from_secs(5)],
                Duration::from_secs(15),
                Duration::from_secs(3600),
            );
            policy.batch = 50;
            let q = EventQueue::new(
                store,
                Envelope::new(kek.clone()),
                policy,
                endpoints,
                Arc::new(SystemClock),
            );
            let ws: Vec<Arc<DeliveryWorker>> = (0..workers)
                .map(|_| Arc::new(DeliveryWorker::new(q.clone())))
                .collect();
            (q, ws)
        });
        g.bench_function(format!("throughput/{workers}-workers"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        for i in 0..BATCH {
                            let e = Event::new(
                                EventType::RecordChanged,
                                "production",
                                "crm",
                                Some("acc".into()),
                                serde_json::json!({"i": i, "pad": "p".repeat(512)}),
                            );
                            queue.publish(&e).await.unwrap();
                        }
                        let start = Instant::now();
                        let tasks: Vec<_> = ws
                            .iter()
                            .map(|w| {
                                let w = w.clone();
                                tokio::spawn(
                                    async move { while w.run_once().await.unwrap() > 0 {} },
                                )
                            })
                            .collect();
                        for t in tasks {
                            t.await.unwrap();
                        }
                        total += start.elapsed();
                        assert_eq!(queue.store().counts().await.unwrap().pending, 0);
                    }
                    total
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, inbound, outbound, delivery);
criterion_main!(benches);
