//! Webhook + polling reconciliation (CONTRACT §8): catch every dropped webhook, store no
//! payloads.
//!
//! Per connector, a `[reconcile]` declaration names a list endpoint and JSONata expressions
//! for its records, their id and version, and the next page. A run pages through the endpoint
//! **through the connector's own stack** (credentials, breaker, rate-limit headers, error
//! normalization), compares every `(id, version)` with the ledger of delivered versions that
//! the webhook path shares ([`tidegate_events::ledger`]), and queues `record.changed` with
//! `"source": "reconciliation"` for each version the webhooks missed. The cursor (high-water
//! mark + page token, [`store`]) moves only after a page's events are durably queued, so a
//! crash resumes without loss, and the ledger makes the re-read page a no-op.
//!
//! ```no_run
//! # async fn run(stacks: tidegate_stack::Stacks, events: tidegate_events::wiring::EventsRuntime,
//! #              accounts: std::sync::Arc<dyn tidegate_events::inbound::AccountDirectory>)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! use tidegate_reconcile::{NoProgress, Reconciler, store::StateStore};
//!
//! let state = StateStore::connect("sqlite://./tidegate-data/tidegate.db").await?;
//! let reconciler = Reconciler::new(&stacks, events.publisher.clone(), state, accounts)?;
//! let report = reconciler.run("hubspot", "acc_1", &NoProgress).await?;
//! println!("{}", report.summary()); // reconciled hubspot acc_1: scanned N, missed M, delivered M
//! # Ok(()) }
//! ```
//!
//! Modules: [`spec`] (the compiled declaration, query placeholders, next-page rules),
//! [`expr`] (expressions, with a fast path for plain field paths), [`engine`] (a run, the
//! rate-limit and backoff policy), [`store`] (cursors), [`schedule`] / [`scheduler`]
//! (`every` or cron inside `serve`), [`status`] (`GET /admin/reconcile`).
#![forbid(unsafe_code)]

pub mod engine;
pub mod expr;
pub mod schedule;
pub mod scheduler;
pub mod spec;
pub mod status;
pub mod store;
pub mod wiring;

pub use engine::{
    NoProgress, PageProgress, Progress, Reconciler, RunError, RunOptions, RunReport, Sleeper,
};
pub use scheduler::Scheduler;
pub use status::ReconcileStatus;
pub use tidegate_events::ledger::DEFAULT_RETENTION as LEDGER_RETENTION;
