//! `tidegate reconcile --connector NAME [--account ID] [--once]`: webhook + polling
//! reconciliation (CONTRACT §8). Runs one reconciliation of the account (or of every account
//! of the connector) now, through the connector's own stack, and prints
//! `reconciled CONNECTOR ACCOUNT: scanned N, missed M, delivered M` per account. Without
//! `--once` it then keeps running on the connector's schedule (`every` / `cron`) until
//! SIGINT/SIGTERM.
//!
//! Progress: a bar on a terminal (records scanned, missed found, rate); plain lines at most
//! once a second when stdout is not a terminal. Missed versions are queued durably; a delivery
//! worker runs alongside and drains what is due before exiting (a `serve` sharing the store
//! delivers the rest).

use std::{
    io::IsTerminal,
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressStyle};
use tidegate_reconcile::{PageProgress, Progress, Reconciler, store::StateStore};

use super::{Failure, load_config, stack_failure};

/// Options of `reconcile`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The connector (it must declare `[connectors.NAME.reconcile]`).
    #[arg(long, value_name = "NAME")]
    pub connector: String,
    /// One account (default: every account of the connector).
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// Run once and exit (otherwise keep running on the connector's schedule).
    #[arg(long)]
    pub once: bool,
    /// After the runs, wait up to this many seconds for queued events to be delivered.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub drain: u64,
}

/// Draws progress: indicatif on a terminal, plain lines otherwise.
struct Bar {
    label: String,
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Mutex<Instant>,
}

impl Bar {
    fn new(connector: &str, account: &str) -> Self {
        let label = format!("{connector} {account}");
        let bar = std::io::stdout().is_terminal().then(|| {
            let b = ProgressBar::new_spinner();
            b.set_style(
                ProgressStyle::with_template("{spinner} {prefix}: {msg} [{elapsed}]")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.set_prefix(label.clone());
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        Self {
            label,
            bar,
            started: Instant::now(),
            last_line: Mutex::new(Instant::now()),
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Progress for Bar {
    fn page(&self, p: &PageProgress) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-6);
        let msg = format!(
            "page {}, scanned {}, missed {}, {:.0} records/s",
            p.pages,
            p.scanned,
            p.missed,
            p.scanned as f64 / secs
        );
        match &self.bar {
            Some(b) => b.set_message(msg),
            None => {
                let mut last = self.last_line.lock().unwrap_or_else(|e| e.into_inner());
                if last.elapsed() >= Duration::from_secs(1) {
                    *last = Instant::now();
                    println!("{}: {msg}", self.label);
                }
            }
        }
    }

    fn waiting(&self, why: &str, d: Duration) {
        let msg = format!("waiting {:.1}s ({why})", d.as_secs_f64());
        match &self.bar {
            Some(b) => b.set_message(msg),
            None => eprintln!("{}: {msg}", self.label),
        }
    }
}

/// Runs the command.
pub async fn run(config_path: &Path, args: Args) -> Result<(), Failure> {
    let config = load_config(config_path)?;
    let Some(connector) = config.connectors.get(&args.connector) else {
        return Err(Failure::Invalid(format!(
            "{}: no connector named {:?}",
            config_path.display(),
            args.connector
        )));
    };
    if connector.reconcile.is_none() {
        return Err(Failure::Invalid(format!(
            "{}: connectors.{} has no [reconcile] section",
            config_path.display(),
            args.connector
        )));
    }
    let rt = |e: &dyn std::fmt::Display| Failure::Runtime(e.to_string());
    let kek = tidegate_vault::from_config::key_source(&config.keys)
        .load()
        .map_err(|e| {
            Failure::Runtime(format!(
                "master key: {e} (create one with `tidegate keys init`)"
            ))
        })?;
    let accounts_store = tidegate_vault::store::open_store(&config.storage.url)
        .await
        .map_err(|e| rt(&e))?;
    let directory = Arc::new(tidegate_events::vault::VaultAccounts::new(
        accounts_store.clone(),
    ));
    let events = tidegate_events::wiring::EventsRuntime::from_config(
        &config,
        Arc::new(kek),
        directory.clone(),
    )
    .await
    .map_err(|e| rt(&e))?;
    let vault = if connector.auth.stores_credentials() {
        let sink = Arc::new(events.vault_sink());
        Some(
            tidegate_vault::Vault::open(&config, sink)
                .await
                .map_err(|e| Failure::Runtime(format!("credential vault: {e}")))?,
        )
    } else {
        None
    };
    let stacks = tidegate_stack::Stacks::with_shared(
        &config,
        tidegate_stack::Shared {
            vault,
            ..Default::default()
        },
    )
    .map_err(|e| stack_failure(config_path, e))?;
    let state = StateStore::connect(&config.storage.url)
        .await
        .map_err(|e| rt(&e))?;
    let lock = tidegate_vault::lock::open_lock(&config.locks.url).map_err(|e| rt(&e))?;
    let reconciler = Reconciler::new(&stacks, events.publisher.clone(), state, directory)
        .map_err(Failure::Invalid)?
        .with_lock(lock);

    let accounts: Vec<String> = match &args.account {
        Some(a) => vec![a.clone()],
        None => accounts_store
            .list()
            .await
            .map_err(|e| rt(&e))?
            .into_iter()
            .filter(|r| r.connector == args.connector)
            .map(|r| r.id)
            .collect(),
    };
    if accounts.is_empty() {
        return Err(Failure::Runtime(format!(
            "connector {:?} has no accounts (register one with PUT /admin/accounts/ID)",
            args.connector
        )));
    }

    // Deliver while reconciling (leases make it safe beside a running `serve`).
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let worker = events.worker();
    let worker_task = tokio::spawn(worker.run(
        Duration::from_millis(200),
        Duration::from_secs(300),
        async move {
            let _ = stop_rx.await;
        },
    ));

    let result = reconcile_all(&reconciler, &args.connector, &accounts).await;
    let result = match result {
        Ok(()) if !args.once => {
            schedule_loop(&reconciler, &args.connector, &accounts).await;
            Ok(())
        }
        other => other,
    };
    drain(&events.store, Duration::from_secs(args.drain)).await;
    let _ = stop_tx.send(());
    let _ = worker_task.await;
    result
}

async fn reconcile_all(
    reconciler: &Reconciler,
    connector: &str,
    accounts: &[String],
) -> Result<(), Failure> {
    let mut failed = Vec::new();
    for account in accounts {
        let bar = Bar::new(connector, account);
        let outcome = reconciler.run(connector, account, &bar).await;
        bar.finish();
        match outcome {
            Ok(report) => println!("{}", report.summary()),
            Err(e) => {
                eprintln!("error: reconciling {connector} {account}: {e}");
                failed.push(account.clone());
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::Runtime(format!(
            "{} of {} accounts failed to reconcile (their cursors are kept; rerun to resume): {}",
            failed.len(),
            accounts.len(),
            failed.join(", ")
        )))
    }
}

/// Keeps reconciling on the connector's schedule until SIGINT/SIGTERM.
async fn schedule_loop(reconciler: &Reconciler, connector: &str, accounts: &[String]) {
    let Some(schedule) = reconciler.spec(connector).and_then(|s| s.schedule.clone()) else {
        eprintln!(
            "note: connectors.{connector}.reconcile has no `every` or `cron`; exiting after one run"
        );
        return;
    };
    let mut anchor = tidegate_reconcile::engine::now_ms();
    let mut shutdown = std::pin::pin!(super::serve::shutdown_signal());
    loop {
        let now = tidegate_reconcile::engine::now_ms();
        let at = schedule.next_after(anchor, now, rand::random::<f64>());
        eprintln!(
            "next run at {}",
            tidegate_reconcile::status::rfc3339(at).unwrap_or_default()
        );
        let wait = Duration::from_millis((at - now).max(0) as u64);
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(wait) => {}
        }
        anchor = at;
        if let Err(Failure::Runtime(e)) = reconcile_all(reconciler, connector, accounts).await {
            eprintln!("error: {e}");
        }
    }
}

/// Waits (bounded) until no queued event is due.
async fn drain(store: &tidegate_events::store::EventStore, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let pending = store.counts().await.map(|c| c.pending).unwrap_or(0);
        if pending == 0 {
            return;
        }
        if Instant::now() >= deadline {
            eprintln!(
                "note: {pending} events still queued; a running `tidegate serve` delivers them"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
