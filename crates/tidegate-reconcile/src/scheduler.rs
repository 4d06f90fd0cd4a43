//! Reconciliation inside `serve`: every account of every connector that declares a schedule
//! is reconciled on it — the first run one `every` after the account was created or the
//! gateway started (whichever is later), jittered up to 10% per account — and one runner per
//! account across processes (the run lock; a busy account is skipped until its next slot).
//!
//! ```no_run
//! # async fn wire(reconciler: tidegate_reconcile::Reconciler,
//! #               accounts: std::sync::Arc<dyn tidegate_vault::store::Store>) {
//! let scheduler = tidegate_reconcile::Scheduler::new(reconciler, accounts);
//! tokio::spawn(scheduler.run(std::future::pending()));
//! # }
//! ```

use std::{
    collections::HashMap,
    future::Future,
    hash::{Hash, Hasher},
    sync::Arc,
    time::Duration,
};

use tidegate_vault::store::Store;

use crate::{NoProgress, Reconciler, engine::now_ms, schedule::Schedule};

/// Runs scheduled reconciliations until shut down.
pub struct Scheduler {
    reconciler: Reconciler,
    accounts: Arc<dyn Store>,
    tick: Duration,
    started_at: i64,
    retention: Duration,
}

/// A stable per-account jitter in [0, 1), so the slot does not move between ticks.
fn jitter_of(connector: &str, account: &str) -> f64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (connector, account).hash(&mut h);
    (h.finish() % 1_000_000) as f64 / 1_000_000.0
}

impl Scheduler {
    /// Over the vault's account store.
    pub fn new(reconciler: Reconciler, accounts: Arc<dyn Store>) -> Self {
        Self {
            reconciler,
            accounts,
            tick: Duration::from_secs(30),
            started_at: now_ms(),
            retention: crate::LEDGER_RETENTION,
        }
    }

    /// How long the ledger remembers a delivered version (default 30 days); swept hourly.
    pub fn ledger_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// How often accounts are listed and due runs started (default 30 s).
    pub fn tick(mut self, tick: Duration) -> Self {
        self.tick = tick;
        self
    }

    /// The due time of every scheduled account, given the last scheduled run of each.
    fn due(
        &self,
        last: &HashMap<(String, String), i64>,
        records: &[(String, String, i64)],
    ) -> Vec<(String, String, i64)> {
        records
            .iter()
            .filter_map(|(connector, account, created_at)| {
                let spec = self.reconciler.spec(connector)?;
                let schedule: &Schedule = spec.schedule.as_ref()?;
                let key = (connector.clone(), account.clone());
                let anchor = last
                    .get(&key)
                    .copied()
                    .unwrap_or_else(|| (*created_at).max(self.started_at));
                let at = schedule.next_after(anchor, anchor, jitter_of(connector, account));
                Some((connector.clone(), account.clone(), at))
            })
            .collect()
    }

    /// Runs until `shutdown` resolves. Runs are spawned; a run in progress at shutdown is
    /// simply dropped (its cursor is at the last committed page; the next start resumes it).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let mut last: HashMap<(String, String), i64> = HashMap::new();
        let mut shutdown = std::pin::pin!(shutdown);
        let mut tasks = tokio::task::JoinSet::new();
        let mut last_sweep: Option<tokio::time::Instant> = None;
        loop {
            if last_sweep.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
                last_sweep = Some(tokio::time::Instant::now());
                match self.reconciler.sweep_ledger(self.retention).await {
                    Ok(n) if n > 0 => tracing::info!(target: "tidegate::reconcile", swept = n,
                        "ledger rows past retention deleted"),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(target: "tidegate::reconcile", error = %e, "ledger sweep failed")
                    }
                }
            }
            match self.accounts.list().await {
                Ok(records) => {
                    let rows: Vec<(String, String, i64)> = records
                        .iter()
                        .map(|r| (r.connector.clone(), r.id.clone(), r.created_at))
                        .collect();
                    let now = now_ms();
                    for (connector, account, at) in self.due(&last, &rows) {
                        if at > now || self.reconciler.is_running(&connector, &account) {
                            continue;
                        }
                        last.insert((connector.clone(), account.clone()), at);
                        let r = self.reconciler.clone();
                        tasks.spawn(async move {
                            match r.run(&connector, &account, &NoProgress).await {
                                Ok(report) => tracing::info!(target: "tidegate::reconcile", "{}", report.summary()),
                                Err(e) => tracing::warn!(target: "tidegate::reconcile", connector, account,
                                    error = %e, "scheduled reconciliation did not complete"),
                            }
                        });
                    }
                }
                Err(e) => {
                    tracing::warn!(target: "tidegate::reconcile", error = %e, "listing accounts failed")
                }
            }
            while tasks.try_join_next().is_some() {}
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(self.tick) => {}
            }
        }
        tasks.abort_all();
    }
}
