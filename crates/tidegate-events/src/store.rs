//! The durable side of events, in the same database as the vault (SQLite or PostgreSQL via
//! sqlx, no macros): the outbound queue with leases and dead letters, inbound dedup ids, endpoints
//! disabled by a 410, and claim-check tickets. Every time is an explicit Unix-millisecond
//! argument (from a [`crate::Clock`]) so tests can drive leases and TTLs without sleeping.
//!
//! Migrations are numbered 2000+ (the vault uses 1000+, reconciliation 3000+) and run with
//! `ignore_missing` so the crates share sqlx's migration table.
//!
//! Claiming: PostgreSQL uses `FOR UPDATE SKIP LOCKED` so several processes share one queue;
//! SQLite's single `UPDATE ... RETURNING` is atomic under its write lock (one process). Either
//! way a claimed row carries a lease (`lease_owner`, `lease_until`): if a worker dies, the row
//! becomes claimable again when the lease ends, and completion is fenced by the owner token.

use std::{str::FromStr, time::Duration};

use sqlx::{
    Executor, PgPool, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions},
};

/// A storage failure. Messages carry no payload or secret.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("events store: {0}")]
    Db(#[from] sqlx::Error),
    /// A migration failed.
    #[error("events store migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The url is neither sqlite nor postgres.
    #[error("unsupported storage url scheme (expected sqlite: or postgres:)")]
    UnsupportedUrl,
}

#[derive(Clone, Debug)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs one statement on whichever pool backs the store, with the same binds.
macro_rules! on_db {
    ($db:expr, $sql:expr, |$q:ident| $body:expr) => {
        match $db {
            Db::Sqlite(pool) => {
                let $q = sqlx::query($sql);
                $body.execute(pool).await?.rows_affected()
            }
            Db::Postgres(pool) => {
                let $q = sqlx::query($sql);
                $body.execute(pool).await?.rows_affected()
            }
        }
    };
}

/// Fetches rows as a tuple type from whichever pool backs the store.
macro_rules! fetch_db {
    ($db:expr, $ty:ty, $sql:expr, |$q:ident| $body:expr) => {
        match $db {
            Db::Sqlite(pool) => {
                let $q = sqlx::query_as::<_, $ty>($sql);
                $body.fetch_all(pool).await?
            }
            Db::Postgres(pool) => {
                let $q = sqlx::query_as::<_, $ty>($sql);
                $body.fetch_all(pool).await?
            }
        }
    };
}

/// A new row for the queue.
#[derive(Clone, Debug)]
pub struct NewQueued {
    /// Event id (`evt_...`), the `webhook-id`.
    pub id: String,
    /// Target environment.
    pub environment: String,
    /// Event type (wire name).
    pub event_type: String,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// Per-event data key wrapped by the KEK.
    pub wrapped_key: Vec<u8>,
    /// The event body sealed by that data key.
    pub sealed: Vec<u8>,
    /// First attempt time, Unix ms.
    pub next_attempt_at: i64,
    /// Hard expiry of the row, Unix ms (the pending TTL).
    pub expires_at: i64,
}

/// A row claimed for delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    /// Event id.
    pub id: String,
    /// Target environment.
    pub environment: String,
    /// Wrapped data key.
    pub wrapped_key: Vec<u8>,
    /// Sealed body.
    pub sealed: Vec<u8>,
    /// Attempts made so far.
    pub attempts: u32,
}

/// Queue sizes, for health and the audit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueCounts {
    /// Waiting for a (re)try.
    pub pending: u64,
    /// Dead-lettered, waiting for their TTL.
    pub dead: u64,
}

/// Result of redeeming a claim ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redeem {
    /// First redemption: the object key to serve then delete.
    First(String),
    /// Already redeemed, expired, or never existed.
    Gone,
}

/// The events store. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct EventStore {
    db: Db,
}

const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        2000,
        "events queue",
        include_str!("../migrations/sqlite/2000_events_queue.sql"),
    ),
    // The delivered-versions ledger (crate::ledger).
    (
        2900,
        "delivered versions ledger",
        include_str!("../migrations/sqlite/2900_delivered_versions.sql"),
    ),
];
const PG_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        2000,
        "events queue",
        include_str!("../migrations/postgres/2000_events_queue.sql"),
    ),
    // The delivered-versions ledger (crate::ledger).
    (
        2900,
        "delivered versions ledger",
        include_str!("../migrations/postgres/2900_delivered_versions.sql"),
    ),
];

/// The queue insert, shared with the ledger's transactional enqueue (crate::ledger).
pub(crate) const ENQUEUE_SQL: &str = "INSERT INTO tg_event_queue (id, environment, event_type, created_at, \
     wrapped_key, sealed, state, attempts, next_attempt_at, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $8)";

impl EventStore {
    /// The SQLite pool, when SQLite-backed (crate::ledger runs its transactions on it).
    pub(crate) fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.db {
            Db::Sqlite(p) => Some(p),
            Db::Postgres(_) => None,
        }
    }

    /// The PostgreSQL pool, when PostgreSQL-backed (crate::ledger).
    pub(crate) fn pg_pool(&self) -> Option<&PgPool> {
        match &self.db {
            Db::Postgres(p) => Some(p),
            Db::Sqlite(_) => None,
        }
    }

    /// Opens `url` (`sqlite://PATH`, `sqlite::memory:`, `postgres://...`) and migrates.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let store = if url.starts_with("sqlite:") {
            let memory = url.contains(":memory:") || url.contains("mode=memory");
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(if memory {
                    SqliteJournalMode::Memory
                } else {
                    SqliteJournalMode::Wal
                })
                .busy_timeout(Duration::from_secs(10));
            // An in-memory database exists per connection: keep exactly one.
            let pool = SqlitePoolOptions::new()
                .max_connections(if memory { 1 } else { 4 })
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(opts)
                .await?;
            Self::from_sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new().max_connections(8).connect(url).await?;
            Self::from_postgres(pool)
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Uses an existing SQLite pool (e.g. the vault's). Call [`EventStore::migrate`].
    pub fn from_sqlite(pool: SqlitePool) -> Self {
        Self {
            db: Db::Sqlite(pool),
        }
    }

    /// Uses an existing PostgreSQL pool. Call [`EventStore::migrate`].
    pub fn from_postgres(pool: PgPool) -> Self {
        Self {
            db: Db::Postgres(pool),
        }
    }

    /// Applies this crate's migrations (2000+), leaving other crates' alone.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.db {
            Db::Sqlite(p) => {
                tidegate_vault::store::shared_migrator(SQLITE_MIGRATIONS)
                    .run(p)
                    .await?
            }
            Db::Postgres(p) => {
                tidegate_vault::store::shared_migrator(PG_MIGRATIONS)
                    .run(p)
                    .await?
            }
        }
        Ok(())
    }

    /// Whether this store is PostgreSQL (several processes may share it).
    pub fn is_postgres(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    /// Adds an event to the queue.
    pub async fn enqueue(&self, row: &NewQueued) -> Result<(), StoreError> {
        on_db!(&self.db, ENQUEUE_SQL, |q| q
            .bind(&row.id)
            .bind(&row.environment)
            .bind(&row.event_type)
            .bind(row.created_at)
            .bind(&row.wrapped_key)
            .bind(&row.sealed)
            .bind(row.next_attempt_at)
            .bind(row.expires_at));
        Ok(())
    }

    /// Claims up to `limit` due rows for `owner` with a lease ending at `now + lease`.
    pub async fn claim_due(
        &self,
        owner: &str,
        now_ms: i64,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Claimed>, StoreError> {
        type Row = (String, String, Vec<u8>, Vec<u8>, i64);
        let lease_until = now_ms + lease.as_millis() as i64;
        let rows: Vec<Row> = match &self.db {
            Db::Sqlite(pool) => {
                sqlx::query_as::<_, Row>(
                    "UPDATE tg_event_queue SET lease_owner = $1, lease_until = $2 WHERE id IN ( \
                     SELECT id FROM tg_event_queue WHERE state = 'pending' AND next_attempt_at <= $3 \
                     AND (lease_until IS NULL OR lease_until <= $3) ORDER BY next_attempt_at LIMIT $4) \
                     RETURNING id, environment, wrapped_key, sealed, attempts",
                )
                .bind(owner)
                .bind(lease_until)
                .bind(now_ms)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
            }
            Db::Postgres(pool) => {
                sqlx::query_as::<_, Row>(
                    "UPDATE tg_event_queue SET lease_owner = $1, lease_until = $2 WHERE id IN ( \
                     SELECT id FROM tg_event_queue WHERE state = 'pending' AND next_attempt_at <= $3 \
                     AND (lease_until IS NULL OR lease_until <= $3) ORDER BY next_attempt_at LIMIT $4 \
                     FOR UPDATE SKIP LOCKED) \
                     RETURNING id, environment, wrapped_key, sealed, attempts",
                )
                .bind(owner)
                .bind(lease_until)
                .bind(now_ms)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
            }
        };
        Ok(rows
            .into_iter()
            .map(|(id, environment, wrapped_key, sealed, attempts)| Claimed {
                id,
                environment,
                wrapped_key,
                sealed,
                attempts: attempts.max(0) as u32,
            })
            .collect())
    }

    /// Delivered: deletes the row if `owner` still holds it. Returns whether it did.
    pub async fn complete(&self, id: &str, owner: &str) -> Result<bool, StoreError> {
        let n = on_db!(
            &self.db,
            "DELETE FROM tg_event_queue WHERE id = $1 AND lease_owner = $2",
            |q| q.bind(id).bind(owner)
        );
        Ok(n == 1)
    }

    /// A failed attempt with attempts left: schedules the next one and releases the lease.
    pub async fn reschedule(
        &self,
        id: &str,
        owner: &str,
        attempts: u32,
        next_attempt_at: i64,
        last_status: Option<u16>,
        last_error: &str,
    ) -> Result<bool, StoreError> {
        let n = on_db!(
            &self.db,
            "UPDATE tg_event_queue SET attempts = $1, next_attempt_at = $2, last_status = $3, last_error = $4, \
             lease_owner = NULL, lease_until = NULL WHERE id = $5 AND lease_owner = $6",
            |q| q
                .bind(i64::from(attempts))
                .bind(next_attempt_at)
                .bind(last_status.map(i64::from))
                .bind(last_error)
                .bind(id)
                .bind(owner)
        );
        Ok(n == 1)
    }

    /// The last attempt failed (or the endpoint is disabled): the row becomes a dead letter
    /// that is deleted at `expires_at`.
    pub async fn dead_letter(
        &self,
        id: &str,
        owner: &str,
        attempts: u32,
        expires_at: i64,
        last_status: Option<u16>,
        last_error: &str,
    ) -> Result<bool, StoreError> {
        let n = on_db!(
            &self.db,
            "UPDATE tg_event_queue SET state = 'dead', attempts = $1, expires_at = $2, last_status = $3, \
             last_error = $4, lease_owner = NULL, lease_until = NULL WHERE id = $5 AND lease_owner = $6",
            |q| q
                .bind(i64::from(attempts))
                .bind(expires_at)
                .bind(last_status.map(i64::from))
                .bind(last_error)
                .bind(id)
                .bind(owner)
        );
        Ok(n == 1)
    }

    /// Deletes expired queue rows (dead letters past their TTL, pending rows past their hard
    /// TTL) and expired dedup ids. Returns the number of queue rows deleted.
    pub async fn sweep(&self, now_ms: i64) -> Result<u64, StoreError> {
        let n = on_db!(
            &self.db,
            "DELETE FROM tg_event_queue WHERE expires_at <= $1",
            |q| q.bind(now_ms)
        );
        on_db!(
            &self.db,
            "DELETE FROM tg_webhook_dedup WHERE expires_at <= $1",
            |q| q.bind(now_ms)
        );
        Ok(n)
    }

    /// Counts pending and dead rows.
    pub async fn counts(&self) -> Result<QueueCounts, StoreError> {
        let rows = fetch_db!(
            &self.db,
            (String, i64),
            "SELECT state, COUNT(*) FROM tg_event_queue GROUP BY state",
            |q| q
        );
        let mut c = QueueCounts::default();
        for (state, n) in rows {
            match state.as_str() {
                "pending" => c.pending = n as u64,
                "dead" => c.dead = n as u64,
                _ => {}
            }
        }
        Ok(c)
    }

    /// Dedup: true the first time `(scope, event_id)` is seen within `window` (and when an
    /// earlier sighting has expired); false for a duplicate. Atomic across processes.
    pub async fn first_seen(
        &self,
        scope: &str,
        event_id: &str,
        now_ms: i64,
        window: Duration,
    ) -> Result<bool, StoreError> {
        let expires = now_ms + window.as_millis() as i64;
        let n = on_db!(
            &self.db,
            "INSERT INTO tg_webhook_dedup (scope, event_id, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (scope, event_id) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE tg_webhook_dedup.expires_at <= $4",
            |q| q.bind(scope).bind(event_id).bind(expires).bind(now_ms)
        );
        Ok(n == 1)
    }

    /// Forgets a dedup id.
    pub async fn forget_seen(&self, scope: &str, event_id: &str) -> Result<(), StoreError> {
        on_db!(
            &self.db,
            "DELETE FROM tg_webhook_dedup WHERE scope = $1 AND event_id = $2",
            |q| q.bind(scope).bind(event_id)
        );
        Ok(())
    }

    /// Records that `url` answered 410 Gone for `environment`.
    pub async fn disable_endpoint(
        &self,
        environment: &str,
        url: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        on_db!(
            &self.db,
            "INSERT INTO tg_event_endpoints_disabled (environment, url, disabled_at) VALUES ($1, $2, $3) \
             ON CONFLICT (environment, url) DO NOTHING",
            |q| q.bind(environment).bind(url).bind(now_ms)
        );
        Ok(())
    }

    /// Whether `url` was disabled for `environment` (a changed URL is a new endpoint).
    pub async fn is_disabled(&self, environment: &str, url: &str) -> Result<bool, StoreError> {
        let rows = fetch_db!(
            &self.db,
            (i64,),
            "SELECT disabled_at FROM tg_event_endpoints_disabled WHERE environment = $1 AND url = $2",
            |q| q.bind(environment).bind(url)
        );
        Ok(!rows.is_empty())
    }

    /// Re-enables an endpoint (operator action).
    pub async fn enable_endpoint(&self, environment: &str, url: &str) -> Result<(), StoreError> {
        on_db!(
            &self.db,
            "DELETE FROM tg_event_endpoints_disabled WHERE environment = $1 AND url = $2",
            |q| q.bind(environment).bind(url)
        );
        Ok(())
    }

    /// Registers a claim ticket (ids and times only).
    pub async fn insert_claim(
        &self,
        id: &str,
        object_key: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        on_db!(
            &self.db,
            "INSERT INTO tg_claims (id, object_key, expires_at) VALUES ($1, $2, $3)",
            |q| q.bind(id).bind(object_key).bind(expires_at)
        );
        Ok(())
    }

    /// Marks a claim redeemed; only the first caller before expiry gets [`Redeem::First`].
    pub async fn redeem_claim(&self, id: &str, now_ms: i64) -> Result<Redeem, StoreError> {
        let rows = fetch_db!(
            &self.db,
            (String,),
            "UPDATE tg_claims SET redeemed_at = $1 WHERE id = $2 AND redeemed_at IS NULL AND expires_at > $1 \
             RETURNING object_key",
            |q| q.bind(now_ms).bind(id)
        );
        Ok(match rows.into_iter().next() {
            Some((key,)) => Redeem::First(key),
            None => Redeem::Gone,
        })
    }

    /// Forgets a claim row (after its object is deleted).
    pub async fn delete_claim(&self, id: &str) -> Result<(), StoreError> {
        on_db!(&self.db, "DELETE FROM tg_claims WHERE id = $1", |q| q
            .bind(id));
        Ok(())
    }

    /// Claim rows that are expired or redeemed: `(id, object_key)`.
    pub async fn finished_claims(&self, now_ms: i64) -> Result<Vec<(String, String)>, StoreError> {
        Ok(fetch_db!(
            &self.db,
            (String, String),
            "SELECT id, object_key FROM tg_claims WHERE expires_at <= $1 OR redeemed_at IS NOT NULL",
            |q| q.bind(now_ms)
        ))
    }

    /// Every stored blob and text column of the queue (for audits and the "no plaintext"
    /// tests): sealed payloads, wrapped keys, last errors.
    pub async fn stored_bytes(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows = fetch_db!(
            &self.db,
            (Vec<u8>, Vec<u8>, Option<String>, String),
            "SELECT wrapped_key, sealed, last_error, event_type FROM tg_event_queue",
            |q| q
        );
        Ok(rows
            .into_iter()
            .flat_map(|(a, b, c, d)| [a, b, c.unwrap_or_default().into_bytes(), d.into_bytes()])
            .collect())
    }

    /// Test/ops helper: `(id, state, attempts, next_attempt_at, expires_at)` of every row.
    pub async fn rows(&self) -> Result<Vec<(String, String, i64, i64, i64)>, StoreError> {
        Ok(fetch_db!(
            &self.db,
            (String, String, i64, i64, i64),
            "SELECT id, state, attempts, next_attempt_at, expires_at FROM tg_event_queue ORDER BY id",
            |q| q
        ))
    }

    /// Runs raw SQL (test schema setup/teardown).
    #[doc(hidden)]
    pub async fn execute_raw(&self, sql: &'static str) -> Result<(), StoreError> {
        match &self.db {
            Db::Sqlite(p) => {
                p.execute(sql).await?;
            }
            Db::Postgres(p) => {
                p.execute(sql).await?;
            }
        }
        Ok(())
    }
}
