//! The real pieces wired together on loopback: the sandbox provider (record store + change
//! webhooks) → the events runtime's `/webhooks` route → the durable queue → a delivery
//! worker → a customer receiver that verifies Standard Webhooks signatures; reconciliation
//! through the connector's stack built from a parsed config. SQLite in a temp dir.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use futures_util::future::BoxFuture;
use tidegate_events::{
    inbound::AccountDirectory,
    verify::{Scheme, Verifier, WebhookSecret, verifier_for},
    wiring::EventsRuntime,
};
use tidegate_reconcile::{Reconciler, RunOptions, store::StateStore};
use tidegate_sandbox::{
    Sandbox, SandboxHandle,
    records::{RecordStore, WebhookTarget},
};
use tidegate_stack::Stacks;
use tokio::sync::watch;

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const CANARY: &str = "RECORD-BODY-CANARY-5b1e77";
pub const ACCOUNT: &str = "acc_1";

/// Accounts of the test: `acc_1` of `crm`, environment `production`.
pub struct Accounts;

impl AccountDirectory for Accounts {
    fn environment_of<'a>(
        &'a self,
        connector: &'a str,
        account_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, tidegate_core::BoxError>> {
        let env = (connector == "crm" && account_id == ACCOUNT).then(|| "production".to_owned());
        Box::pin(async move { Ok(env) })
    }
}

/// The customer's endpoint: verifies every delivery's signature, keeps the parsed events.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    events: Arc<Mutex<Vec<serde_json::Value>>>,
    rejected: Arc<Mutex<u64>>,
}

#[derive(Clone)]
struct ReceiverState {
    verifier: Arc<dyn Verifier>,
    events: Arc<Mutex<Vec<serde_json::Value>>>,
    rejected: Arc<Mutex<u64>>,
}

async fn receive(
    State(s): State<ReceiverState>,
    headers: HeaderMap,
    body: Bytes,
) -> http::StatusCode {
    let uri: http::Uri = "/".parse().unwrap();
    match s.verifier.verify(
        &http::Method::POST,
        &uri,
        &headers,
        &body,
        SystemTime::now(),
    ) {
        Ok(_) => {
            s.events
                .lock()
                .unwrap()
                .push(serde_json::from_slice(&body).expect("event bodies are JSON"));
            http::StatusCode::NO_CONTENT
        }
        Err(_) => {
            *s.rejected.lock().unwrap() += 1;
            http::StatusCode::UNAUTHORIZED
        }
    }
}

impl Receiver {
    pub async fn start() -> Self {
        let events = Arc::new(Mutex::new(Vec::new()));
        let rejected = Arc::new(Mutex::new(0));
        let state = ReceiverState {
            verifier: Arc::from(verifier_for(
                Scheme::StandardWebhooks,
                vec![WebhookSecret::new(SECRET)],
                Duration::from_secs(300),
            )),
            events: events.clone(),
            rejected: rejected.clone(),
        };
        let app = Router::new()
            .route("/events", post(receive))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            addr,
            events,
            rejected,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/events", self.addr)
    }

    pub fn events(&self) -> Vec<serde_json::Value> {
        self.events.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.events.lock().unwrap().clear();
    }

    pub fn rejected(&self) -> u64 {
        *self.rejected.lock().unwrap()
    }

    /// Waits (real time, bounded) until at least `n` events arrived, then a little longer so
    /// that a duplicate would have had time to show up too.
    pub async fn wait_for(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        while self.events.lock().unwrap().len() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {n} events arrived",
                self.events.lock().unwrap().len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Everything of one test.
pub struct Harness {
    pub _dir: tempfile::TempDir,
    pub db_path: std::path::PathBuf,
    pub config: tidegate_config::Config,
    pub events: EventsRuntime,
    pub records: RecordStore,
    pub sandbox: SandboxHandle,
    pub receiver: Receiver,
    pub gateway: String,
    stop_worker: watch::Sender<bool>,
}

impl Harness {
    /// `page_size` records per page; `overlap` as a config duration.
    pub async fn start(page_size: u32, overlap: &str) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let db_path = dir.path().join("tidegate.db");
        let records = RecordStore::new(CANARY);
        let sandbox = Sandbox::new()
            .merge(tidegate_sandbox::records::router(records.clone()))
            .bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let receiver = Receiver::start().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gw = listener.local_addr().unwrap();
        let toml = format!(
            r#"
[server]
public_url = "http://{gw}"
[storage]
url = "sqlite://{db}"
[claim_check]
url = "memory://"
[events]
retry_schedule = ["0s", "100ms", "300ms", "1s"]
[environments.production]
api_keys = ["k"]
webhook_url = "{receiver}"
webhook_secret = "{SECRET}"
[connectors.crm]
base_url = "{sandbox}"
auth = {{ type = "none" }}
rate_limit = {{ limit = "X-HubSpot-RateLimit-Max", remaining = "X-HubSpot-RateLimit-Remaining", reset = "X-HubSpot-RateLimit-Interval-Milliseconds", reset_unit = "window_ms" }}
webhooks = {{ verify = "standard-webhooks", secret = "{SECRET}", object = "data.object", id = "data.id", version = "data.version", event_id = "id" }}
[connectors.crm.reconcile]
object = "record"
request = {{ method = "GET", path = "/v1/records", query = {{ updated_since_ms = "{{since}}", after = "{{page}}", limit = "{{page_size}}" }} }}
records = "results"
id = "id"
version = "version"
next_page = "paging.next.after"
since_format = "unix_ms"
overlap = "{overlap}"
initial_lookback = "24h"
page_size = {page_size}
"#,
            db = db_path.display(),
            receiver = receiver.url(),
            sandbox = sandbox.base_url(),
        );
        let config =
            tidegate_config::Config::from_str(&toml, Path::new("tidegate.toml"), &|_| None)
                .unwrap_or_else(|e| panic!("{e}"));
        let kek = Arc::new(tidegate_crypto::MasterKey::generate());
        let events = EventsRuntime::from_config(&config, kek, Arc::new(Accounts))
            .await
            .unwrap();
        let app: Router = events.router();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let (stop_worker, mut stop_rx) = watch::channel(false);
        let worker = events.worker();
        tokio::spawn(async move {
            worker
                .run(
                    Duration::from_millis(20),
                    Duration::from_secs(3600),
                    async move {
                        let _ = stop_rx.changed().await;
                    },
                )
                .await
        });
        records.webhooks(Some(WebhookTarget {
            url: format!("http://{gw}/webhooks/crm/{ACCOUNT}"),
            secret: SECRET.into(),
            drop_share: 0.0,
        }));
        Harness {
            _dir: dir,
            db_path,
            config,
            events,
            records,
            sandbox,
            receiver,
            gateway: format!("http://{gw}"),
            stop_worker,
        }
    }

    /// A fresh reconciler over the same database (as a new process would build it).
    pub async fn reconciler(&self, options: RunOptions) -> Reconciler {
        let stacks = Stacks::from_config_value(self.config.clone()).unwrap();
        let state = StateStore::connect(&self.config.storage.url).await.unwrap();
        Reconciler::new(
            &stacks,
            self.events.publisher.clone(),
            state,
            Arc::new(Accounts),
        )
        .unwrap()
        .with_options(options)
    }

    pub fn drop_share(&self, share: f64) {
        self.records.webhooks(Some(WebhookTarget {
            url: format!("{}/webhooks/crm/{ACCOUNT}", self.gateway),
            secret: SECRET.into(),
            drop_share: share,
        }));
    }

    /// `record.changed` events by (id, version) → how many times each arrived, and the sources.
    pub fn tally(&self) -> (HashMap<(String, String), usize>, HashMap<String, usize>) {
        let mut by_version = HashMap::new();
        let mut by_source = HashMap::new();
        for e in self.receiver.events() {
            assert_eq!(e["type"], "record.changed");
            let key = (
                e["data"]["id"].as_str().unwrap().to_owned(),
                e["data"]["version"].as_str().unwrap().to_owned(),
            );
            *by_version.entry(key).or_insert(0) += 1;
            *by_source
                .entry(e["data"]["source"].as_str().unwrap().to_owned())
                .or_insert(0) += 1;
        }
        (by_version, by_source)
    }

    pub fn stop(&self) {
        let _ = self.stop_worker.send(true);
    }
}

pub fn now_ms() -> i64 {
    tidegate_reconcile::engine::now_ms()
}

/// Fast options for tests (short backoff).
pub fn fast_options() -> RunOptions {
    RunOptions {
        backoff_min: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        max_retries: 2,
        ..RunOptions::default()
    }
}
