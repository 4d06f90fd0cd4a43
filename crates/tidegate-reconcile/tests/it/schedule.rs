//! Inside `serve`: the scheduler runs an account one `every` after it exists (jittered), and
//! one runner per account: a run finding the account's lock held is refused as busy.

use std::{sync::Arc, time::Duration};

use tidegate_reconcile::{NoProgress, Reconciler, RunError, Scheduler, store::StateStore};
use tidegate_vault::lock::{LocalLock, RedisLock, RefreshLock};

use crate::support::*;

fn lock_backend() -> Arc<dyn RefreshLock> {
    match std::env::var("TIDEGATE_TEST_REDIS_URL") {
        Ok(url) => Arc::new(RedisLock::new(&url).unwrap()),
        Err(_) => {
            eprintln!(
                "note: lock test on the local backend (set TIDEGATE_TEST_REDIS_URL for Redis)"
            );
            Arc::new(LocalLock::new())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_runner_per_account_and_scheduled_runs() {
    let h = Harness::start(100, "5m").await;
    h.records.seed(250, now_ms() - 60_000);

    // The account in the vault's store (what `serve` lists).
    let accounts = tidegate_vault::store::open_store(&h.config.storage.url)
        .await
        .unwrap();
    let vault = tidegate_vault::Vault::builder(
        accounts.clone(),
        Arc::new(LocalLock::new()),
        tidegate_crypto::MasterKey::generate(),
    )
    .connector("crm", tidegate_vault::ConnectorAuth::None)
    .build();
    vault
        .put_account(
            ACCOUNT,
            tidegate_vault::PutAccount {
                connector: "crm".into(),
                environment: "production".into(),
                credentials: serde_json::json!({}),
            },
        )
        .await
        .unwrap();

    let mut config = h.config.clone();
    config
        .connectors
        .get_mut("crm")
        .unwrap()
        .reconcile
        .as_mut()
        .unwrap()
        .every = Some(Duration::from_millis(300));
    let stacks = tidegate_stack::Stacks::from_config_value(config).unwrap();
    let lock = lock_backend();
    let build = || async {
        Reconciler::new(
            &stacks,
            h.events.publisher.clone(),
            StateStore::connect(&h.config.storage.url).await.unwrap(),
            Arc::new(Accounts),
        )
        .unwrap()
        .with_options(fast_options())
        .with_lock(lock.clone())
    };

    // Another runner holds the account: this one is refused, nothing changes.
    let key = format!("tidegate:reconcile:crm:{ACCOUNT}");
    assert!(
        lock.try_acquire(&key, "other-runner", Duration::from_secs(30))
            .await
            .unwrap()
    );
    let r = build().await;
    assert!(matches!(
        r.run("crm", ACCOUNT, &NoProgress).await,
        Err(RunError::Busy)
    ));
    assert!(
        r.state()
            .load("crm", ACCOUNT, "record")
            .await
            .unwrap()
            .last_started_at
            .is_none()
    );
    assert!(lock.release(&key, "other-runner").await.unwrap());

    // Two schedulers (two gateway processes) over the same store and lock.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    for _ in 0..2 {
        let scheduler =
            Scheduler::new(build().await, accounts.clone()).tick(Duration::from_millis(50));
        let mut rx = stop_rx.clone();
        tokio::spawn(scheduler.run(async move {
            let _ = rx.changed().await;
        }));
    }
    // The first slot is one `every` (+ up to 10%) after start; wait for its run's events.
    h.receiver.wait_for(250).await;
    let _ = stop_tx.send(true);
    let (by_version, by_source) = h.tally();
    assert_eq!(by_version.len(), 250);
    assert!(
        by_version.values().all(|n| *n == 1),
        "one runner, no duplicate"
    );
    assert_eq!(by_source.get("reconciliation"), Some(&250));
    let st = r.state().load("crm", ACCOUNT, "record").await.unwrap();
    assert!(st.hwm.is_some(), "a scheduled run completed");
    h.stop();
}
