//! Shared test fixtures: stores (SQLite temp file, PostgreSQL fresh schema), a capturing
//! receiver with fault modes, and queue/worker assembly.

#![allow(dead_code)]

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU8, AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    Router, body::Bytes, extract::State, http::HeaderMap, response::IntoResponse, routing::post,
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use tidegate_crypto::MasterKey;
use tidegate_events::{
    Clock, Envelope, Signer,
    delivery::DeliveryWorker,
    policy::DeliveryPolicy,
    queue::{Endpoint, Endpoints, EventQueue},
    store::EventStore,
};

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const CANARY: &str = "PLAINTEXT-CANARY-7f3a9c";

/// A fresh SQLite file store in a temp dir (kept alive by the returned guard).
pub async fn sqlite_store() -> (EventStore, tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/events.db", dir.path().display());
    let store = EventStore::connect(&url).await.unwrap();
    (store, dir, url)
}

/// A PostgreSQL store in a fresh schema, or `None` (with a loud SKIPPED line) when
/// `TIDEGATE_TEST_DATABASE_URL` is unset. Returns the url (with `search_path`) for more
/// connections and the schema name for cleanup.
pub async fn pg_store(test: &str) -> Option<(EventStore, String, String)> {
    let Ok(base) = std::env::var("TIDEGATE_TEST_DATABASE_URL") else {
        eprintln!("SKIPPED: {test} needs PostgreSQL (set TIDEGATE_TEST_DATABASE_URL)");
        return None;
    };
    let schema = format!("tg_events_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let store = EventStore::connect(&url).await.unwrap();
    Some((store, url, schema))
}

pub async fn drop_pg_schema(schema: &str) {
    let base = std::env::var("TIDEGATE_TEST_DATABASE_URL").unwrap();
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&admin)
        .await
        .unwrap();
}

/// What the receiver does with each request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// 204 always.
    Ok = 0,
    /// 50%: a failure (500, 503, or 429 with `Retry-After: 1`), else 200.
    Flaky = 1,
    /// 503 always.
    Down = 2,
    /// 410 always.
    Gone = 3,
    /// Never answers within any reasonable timeout (60 s).
    Hang = 4,
}

#[derive(Clone, Debug)]
pub struct Captured {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub status: u16,
}

#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    mode: Arc<AtomicU8>,
    pub captured: Arc<Mutex<Vec<Captured>>>,
    rng: Arc<Mutex<StdRng>>,
    pub hits: Arc<AtomicU64>,
    shutdown: Arc<tokio::sync::Notify>,
}

impl Receiver {
    pub async fn start(mode: Mode, seed: u64) -> Self {
        let r = Receiver {
            addr: "127.0.0.1:0".parse().unwrap(),
            mode: Arc::new(AtomicU8::new(mode as u8)),
            captured: Arc::default(),
            rng: Arc::new(Mutex::new(StdRng::seed_from_u64(seed))),
            hits: Arc::default(),
            shutdown: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/events", post(receive))
            .with_state(r.clone());
        let stop = r.shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.notified().await })
                .await
                .unwrap();
        });
        Receiver { addr, ..r }
    }

    pub fn url(&self) -> String {
        format!("http://{}/events", self.addr)
    }

    pub fn set_mode(&self, m: Mode) {
        self.mode.store(m as u8, Ordering::SeqCst);
    }

    pub fn captured(&self) -> Vec<Captured> {
        self.captured.lock().unwrap().clone()
    }

    pub fn stop(&self) {
        self.shutdown.notify_waiters();
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    r.hits.fetch_add(1, Ordering::SeqCst);
    let mode = r.mode.load(Ordering::SeqCst);
    let (status, retry_after) = match mode {
        0 => (204u16, None),
        1 => {
            let mut rng = r.rng.lock().unwrap();
            if rng.random_bool(0.5) {
                match rng.random_range(0..3) {
                    0 => (429, Some("1")),
                    1 => (500, None),
                    _ => (503, None),
                }
            } else {
                (200, None)
            }
        }
        2 => (503, None),
        4 => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            (204, None)
        }
        _ => (410, None),
    };
    r.captured.lock().unwrap().push(Captured {
        headers,
        body: body.clone(),
        status,
    });
    let mut resp = axum::http::Response::builder().status(status);
    if let Some(ra) = retry_after {
        resp = resp.header("retry-after", ra);
    }
    resp.body(axum::body::Body::empty()).unwrap()
}

/// A fixed KEK for a test (all workers of one test share it, like processes sharing a key file).
pub fn kek() -> Arc<MasterKey> {
    Arc::new(MasterKey::generate())
}

pub fn endpoints(url: &str) -> Endpoints {
    HashMap::from([(
        "production".to_owned(),
        Endpoint {
            url: url.to_owned(),
            signer: Signer::new([SECRET]).unwrap(),
        },
    )])
}

pub fn queue(
    store: EventStore,
    kek: Arc<MasterKey>,
    policy: DeliveryPolicy,
    url: &str,
    clock: Arc<dyn Clock>,
) -> EventQueue {
    EventQueue::new(store, Envelope::new(kek), policy, endpoints(url), clock)
}

pub fn short_policy(attempts: usize) -> DeliveryPolicy {
    let mut schedule = vec![Duration::ZERO];
    for i in 1..attempts {
        schedule.push(Duration::from_secs((i as u64).min(8)));
    }
    let mut p = DeliveryPolicy::new(schedule, Duration::from_secs(5), Duration::from_secs(600));
    p.retry_after_cap = Duration::from_secs(30);
    p
}

/// Runs `worker` rounds, advancing the manual clock by `step` after each, until the queue has
/// no pending rows or `max_rounds` pass. Returns the rounds used.
pub async fn drain(
    worker: &DeliveryWorker,
    store: &EventStore,
    clock: &tidegate_events::ManualClock,
    step: Duration,
    max_rounds: usize,
) -> usize {
    for round in 0..max_rounds {
        worker.run_once().await.unwrap();
        if store.counts().await.unwrap().pending == 0 {
            return round + 1;
        }
        clock.advance(step);
    }
    max_rounds
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
