//! Wiring from the configuration, for `serve` and the CLI: the reconciler over the app's
//! shared stack state (HTTP pool, breakers, vault), the configured storage and lock backend,
//! and the vault's accounts.
//!
//! ```no_run
//! # async fn wire(config: tidegate_config::Config, shared: tidegate_stack::Shared,
//! #               events: tidegate_events::wiring::EventsRuntime,
//! #               accounts: std::sync::Arc<dyn tidegate_vault::store::Store>)
//! # -> Result<(), String> {
//! let reconciler = tidegate_reconcile::wiring::from_config(&config, shared, events.publisher.clone(),
//!                                                          accounts.clone()).await?;
//! // builder = builder.extension(reconciler.clone());          // GET /admin/reconcile
//! tokio::spawn(tidegate_reconcile::Scheduler::new(reconciler, accounts).run(std::future::pending()));
//! # Ok(()) }
//! ```

use std::sync::Arc;

use tidegate_config::Config;
use tidegate_events::{publish::EventPublisher, vault::VaultAccounts};
use tidegate_stack::{Shared, Stacks};
use tidegate_vault::store::Store;

use crate::{Reconciler, store::StateStore};

/// A reconciler for every connector of `config` that declares `[reconcile]`, calling through
/// stacks built with `shared` (clone the app's `Shared`: same pool, breakers and vault), with
/// cursors in `storage.url` and the run lock on `locks.url`.
pub async fn from_config(
    config: &Config,
    shared: Shared,
    publisher: EventPublisher,
    accounts: Arc<dyn Store>,
) -> Result<Reconciler, String> {
    let stacks = Stacks::with_shared(config, shared).map_err(|e| e.to_string())?;
    let state = StateStore::connect(&config.storage.url)
        .await
        .map_err(|e| e.to_string())?;
    let lock = tidegate_vault::lock::open_lock(&config.locks.url).map_err(|e| e.to_string())?;
    Ok(Reconciler::new(
        &stacks,
        publisher,
        state,
        Arc::new(VaultAccounts::new(accounts)),
    )?
    .with_lock(lock))
}
