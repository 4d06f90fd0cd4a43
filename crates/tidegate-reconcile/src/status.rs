//! The status of every cursor, for `GET /admin/reconcile`: per connector/account the last run's
//! start and end, records scanned, versions missed, state and last error.

use serde::Serialize;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::{Reconciler, store::StateError};

/// One row of `GET /admin/reconcile`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReconcileStatus {
    /// Connector.
    pub connector: String,
    /// Integrated account id.
    pub account_id: String,
    /// Object type.
    pub object: String,
    /// `running` (here), `interrupted` (a run is pending resume), `failed`, `idle`.
    pub state: &'static str,
    /// Last run start (RFC 3339).
    pub last_run_started_at: Option<String>,
    /// Last run end (RFC 3339).
    pub last_run_ended_at: Option<String>,
    /// Records scanned by the last run (the current one while running).
    pub scanned: u64,
    /// Versions missed by webhooks and delivered by the last run.
    pub missed: u64,
    /// The cause of the last failure.
    pub last_error: Option<String>,
    /// Start of the last completed run: the next `{since}` is this minus the overlap.
    pub high_water_mark: Option<String>,
}

/// RFC 3339 of a Unix-ms instant.
pub fn rfc3339(ms: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()?
        .format(&Rfc3339)
        .ok()
}

impl Reconciler {
    /// Every cursor's status, ordered by connector, account, object.
    pub async fn status(&self) -> Result<Vec<ReconcileStatus>, StateError> {
        Ok(self
            .state()
            .list()
            .await?
            .into_iter()
            .map(|c| {
                let running = self.is_running(&c.connector, &c.account_id);
                let state = if running {
                    "running"
                } else if c.run.is_some() && c.last_outcome.as_deref() == Some("failed") {
                    "failed"
                } else if c.run.is_some() {
                    "interrupted"
                } else {
                    "idle"
                };
                let (scanned, missed) = match (&c.run, running) {
                    (Some(r), true) => (r.scanned, r.missed),
                    _ => (c.last_scanned, c.last_missed),
                };
                ReconcileStatus {
                    state,
                    last_run_started_at: c.last_started_at.and_then(rfc3339),
                    last_run_ended_at: c.last_ended_at.and_then(rfc3339),
                    scanned,
                    missed,
                    last_error: c.last_error,
                    high_water_mark: c.hwm.and_then(rfc3339),
                    connector: c.connector,
                    account_id: c.account_id,
                    object: c.object,
                }
            })
            .collect())
    }
}
