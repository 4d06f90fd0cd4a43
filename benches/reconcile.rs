//! Reconciliation throughput and memory: scanning N unchanged records (every version already
//! in the ledger), pages served locally by the sandbox over loopback, through the connector's
//! full stack, SQLite ledger. Reports records/s and the peak RSS of the scan (VmHWM reset
//! before each scan via /proc/self/clear_refs), for N = 10,000 and 100,000 and two page
//! sizes, so that growth with N is visible.
//!
//! `cargo bench --bench reconcile` (release profile). Not criterion: one scan of 100,000 records
//! is the unit being measured, and RSS must be read around it; each configuration is run 3
//! times and the best and median rates are printed.

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use futures_util::future::BoxFuture;
use tidegate_events::{inbound::AccountDirectory, ledger::VersionKey, wiring::EventsRuntime};
use tidegate_reconcile::{NoProgress, Reconciler, store::StateStore};
use tidegate_sandbox::{Sandbox, records::RecordStore};

struct OneAccount;

impl AccountDirectory for OneAccount {
    fn environment_of<'a>(
        &'a self,
        _connector: &'a str,
        _account_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, tidegate_core::BoxError>> {
        Box::pin(async { Ok(Some("production".to_owned())) })
    }
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

async fn scenario(n: usize, page_size: u32) -> (f64, f64, u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let records = RecordStore::new("bench");
    records.seed(n, tidegate_reconcile::engine::now_ms() - 3_600_000);
    let sandbox = Sandbox::new()
        .merge(tidegate_sandbox::records::router(records.clone()))
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let toml = format!(
        r#"
[server]
[storage]
url = "{url}"
[claim_check]
url = "memory://"
[environments.production]
api_keys = ["k"]
webhook_url = "http://127.0.0.1:9/unused"
webhook_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
[connectors.crm]
base_url = "{base}"
auth = {{ type = "none" }}
[connectors.crm.reconcile]
object = "record"
request = {{ path = "/v1/records", query = {{ updated_since_ms = "{{since}}", after = "{{page}}", limit = "{{page_size}}" }} }}
records = "results"
id = "id"
version = "version"
next_page = "paging.next.after"
since_format = "unix_ms"
overlap = "2h"
page_size = {page_size}
"#,
        base = sandbox.base_url()
    );
    let config =
        tidegate_config::Config::from_str(&toml, Path::new("bench.toml"), &|_| None).unwrap();
    let events = EventsRuntime::from_config(
        &config,
        Arc::new(tidegate_crypto::MasterKey::generate()),
        Arc::new(OneAccount),
    )
    .await
    .unwrap();
    // Every version is already delivered: the scan finds nothing to announce.
    let keys: Vec<VersionKey> = (0..n)
        .map(|i| VersionKey {
            connector: "crm".into(),
            account_id: "acc_1".into(),
            object: "record".into(),
            record_id: format!("rec_{i:07}"),
            version: "1".into(),
        })
        .collect();
    events
        .store
        .mark_delivered(&keys, "webhook", 0)
        .await
        .unwrap();
    drop(keys);
    let stacks = tidegate_stack::Stacks::from_config_value(config).unwrap();
    let reconciler = Reconciler::new(
        &stacks,
        events.publisher.clone(),
        StateStore::connect(&url).await.unwrap(),
        Arc::new(OneAccount),
    )
    .unwrap();
    let mut rates = Vec::new();
    let mut peak = 0;
    let mut base_rss = u64::MAX;
    for _ in 0..3 {
        base_rss = base_rss.min(vm_rss_kib());
        reset_peak();
        let t = Instant::now();
        let report = reconciler.run("crm", "acc_1", &NoProgress).await.unwrap();
        let secs = t.elapsed().as_secs_f64();
        assert_eq!((report.scanned, report.missed), (n as u64, 0));
        peak = peak.max(vm_hwm_kib());
        rates.push(n as f64 / secs);
    }
    rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (rates[2], rates[1], peak, base_rss)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing that matters here:
    // run a tiny smoke instead of the full measurement then.
    let full = std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sizes: &[usize] = if full { &[10_000, 100_000] } else { &[1_000] };
    println!("reconcile: scanning unchanged records (all versions in the ledger)");
    println!(
        "{:>8} {:>9} {:>14} {:>14} {:>14} {:>14}",
        "records", "page_size", "best rec/s", "median rec/s", "peak RSS KiB", "idle RSS KiB"
    );
    for &page_size in &[100u32, 1_000] {
        for &n in sizes {
            let (best, median, peak, idle) = rt.block_on(scenario(n, page_size));
            println!("{n:>8} {page_size:>9} {best:>14.0} {median:>14.0} {peak:>14} {idle:>14}");
        }
    }
    std::thread::sleep(Duration::from_millis(10));
}
