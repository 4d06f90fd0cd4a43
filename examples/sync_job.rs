//! A reconciliation job, offline, in one command: `cargo run --example sync_job`.
//!
//! What runs (all on loopback, SQLite in a temp dir):
//! 1. the sandbox provider with a record store of 20,000 records and a paged, updated-since
//!    list endpoint (`GET /v1/records`);
//! 2. the events runtime's `POST /webhooks/{connector}/{account}` (Standard Webhooks
//!    verification, dedup, the delivered-versions ledger) and a delivery worker;
//! 3. a customer receiver counting the `record.changed` events it gets;
//! 4. the vault's account store with one `auth = none` account.
//!
//! The job: a first reconciliation announces every record; then the provider changes 2,000
//! records and "loses" 30% of their webhooks; a second reconciliation finds exactly the
//! missed ones. Progress lines and the `reconciled ...` summary are printed for both runs.
//!
//! Options: `cargo run --example sync_job -- RECORDS CHANGED DROP_PERCENT`
//! (defaults 20000 2000 30).

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use axum::{Router, routing::post};
use tidegate_reconcile::{PageProgress, Progress, Reconciler, store::StateStore};
use tidegate_sandbox::{
    Sandbox,
    records::{RecordStore, WebhookTarget},
};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Lines {
    started: Instant,
    last: std::sync::Mutex<Instant>,
}

impl Progress for Lines {
    fn page(&self, p: &PageProgress) {
        let mut last = self.last.lock().unwrap();
        if last.elapsed() >= Duration::from_millis(250) {
            *last = Instant::now();
            let rate = p.scanned as f64 / self.started.elapsed().as_secs_f64().max(1e-6);
            println!(
                "  page {:>4}  scanned {:>6}  missed {:>6}  {:>8.0} records/s",
                p.pages, p.scanned, p.missed, rate
            );
        }
    }
    fn waiting(&self, why: &str, d: Duration) {
        println!("  waiting {:.1}s ({why})", d.as_secs_f64());
    }
}

fn lines() -> Lines {
    Lines {
        started: Instant::now(),
        last: std::sync::Mutex::new(Instant::now() - Duration::from_secs(1)),
    }
}

fn now_ms() -> i64 {
    tidegate_reconcile::engine::now_ms()
}

async fn wait_for(received: &AtomicU64, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while received.load(Ordering::SeqCst) < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let records_n = *args.first().unwrap_or(&20_000) as usize;
    let changed_n = *args.get(1).unwrap_or(&2_000) as usize;
    let drop_pct = *args.get(2).unwrap_or(&30) as f64 / 100.0;

    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tidegate.db");
    let url = format!("sqlite://{}", db.display());

    // The provider.
    let records = RecordStore::new("example record body");
    records.seed(records_n, now_ms() - 3_600_000);
    let sandbox = Sandbox::new()
        .merge(tidegate_sandbox::records::router(records.clone()))
        .bind("127.0.0.1:0".parse()?)
        .await?;

    // The customer.
    let received = Arc::new(AtomicU64::new(0));
    let from_reconciliation = Arc::new(AtomicU64::new(0));
    let receiver = {
        let (received, recon) = (received.clone(), from_reconciliation.clone());
        Router::new().route(
            "/events",
            post(move |body: axum::body::Bytes| async move {
                let e: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                received.fetch_add(1, Ordering::SeqCst);
                if e["data"]["source"] == "reconciliation" {
                    recon.fetch_add(1, Ordering::SeqCst);
                }
                http::StatusCode::NO_CONTENT
            }),
        )
    };
    let rl = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let receiver_url = format!("http://{}/events", rl.local_addr()?);
    tokio::spawn(async move { axum::serve(rl, receiver).await });

    // The gateway's webhook side and the config.
    let gl = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let gw = gl.local_addr()?;
    let toml = format!(
        r#"
[server]
public_url = "http://{gw}"
[storage]
url = "{url}"
[claim_check]
url = "memory://"
[events]
retry_schedule = ["0s", "200ms", "1s"]
[environments.production]
api_keys = ["example-key"]
webhook_url = "{receiver_url}"
webhook_secret = "{SECRET}"
[connectors.crm]
base_url = "{sandbox}"
auth = {{ type = "none" }}
webhooks = {{ verify = "standard-webhooks", secret = "{SECRET}", object = "data.object", id = "data.id", version = "data.version", event_id = "id" }}
[connectors.crm.reconcile]
object = "record"
request = {{ path = "/v1/records", query = {{ updated_since_ms = "{{since}}", after = "{{page}}", limit = "{{page_size}}" }} }}
records = "results"
id = "id"
version = "version"
next_page = "paging.next.after"
since_format = "unix_ms"
overlap = "2h"
page_size = 500
every = "24h"
"#,
        sandbox = sandbox.base_url()
    );
    let config = tidegate_config::Config::from_str(&toml, Path::new("sync_job.toml"), &|_| None)
        .map_err(|e| e.to_string())?;

    // The account, in the vault's store.
    let accounts = tidegate_vault::store::open_store(&url).await?;
    let vault = tidegate_vault::Vault::builder(
        accounts.clone(),
        Arc::new(tidegate_vault::lock::LocalLock::new()),
        tidegate_crypto::MasterKey::generate(),
    )
    .connector("crm", tidegate_vault::ConnectorAuth::None)
    .build();
    vault
        .put_account(
            "acc_demo",
            tidegate_vault::PutAccount {
                connector: "crm".into(),
                environment: "production".into(),
                credentials: serde_json::json!({}),
            },
        )
        .await?;
    let directory = Arc::new(tidegate_events::vault::VaultAccounts::new(accounts));
    let events = tidegate_events::wiring::EventsRuntime::from_config(
        &config,
        Arc::new(tidegate_crypto::MasterKey::generate()),
        directory.clone(),
    )
    .await?;
    let app: Router = events.router();
    tokio::spawn(async move { axum::serve(gl, app).await });
    tokio::spawn(events.worker().run(
        Duration::from_millis(20),
        Duration::from_secs(3600),
        std::future::pending(),
    ));

    let stacks = tidegate_stack::Stacks::from_config_value(config.clone())?;
    let reconciler = Reconciler::new(
        &stacks,
        events.publisher.clone(),
        StateStore::connect(&url).await?,
        directory,
    )?;

    println!("initial sync of {records_n} records:");
    let first = reconciler.run("crm", "acc_demo", &lines()).await?;
    println!("{}", first.summary());
    wait_for(&received, first.delivered).await;

    records.webhooks(Some(WebhookTarget {
        url: format!("http://{gw}/webhooks/crm/acc_demo"),
        secret: SECRET.into(),
        drop_share: drop_pct,
    }));
    let before = received.load(Ordering::SeqCst);
    let recon_before = from_reconciliation.load(Ordering::SeqCst);
    let change = records.change_and_notify(changed_n, now_ms()).await;
    println!(
        "provider changed {} records: {} webhooks delivered, {} dropped",
        change.changed.len(),
        change.webhooks_sent,
        change.webhooks_dropped
    );
    wait_for(&received, before + change.webhooks_sent).await;

    println!("reconciliation:");
    let t = SystemTime::now();
    let second = reconciler.run("crm", "acc_demo", &lines()).await?;
    wait_for(&received, before + change.changed.len() as u64).await;
    println!("{}", second.summary());
    println!(
        "customer received {} record.changed for {} changed records ({} via webhooks, {} via reconciliation) in {:.2}s",
        received.load(Ordering::SeqCst) - before,
        change.changed.len(),
        change.webhooks_sent,
        from_reconciliation.load(Ordering::SeqCst) - recon_before,
        t.elapsed()?.as_secs_f64()
    );
    Ok(())
}
