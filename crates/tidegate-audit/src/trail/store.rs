//! Where the trail lives: the same SQLite or PostgreSQL database as the rest of tidegate's state,
//! in tables of its own, with migrations numbered 4000+ (see `migrations/`).

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

use super::chain::entry_hash;
use super::{Entry, NewEntry, format_at};

const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[(
    4000,
    "admin trail",
    include_str!("../../migrations/sqlite/4000_admin_trail.sql"),
)];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[(
    4000,
    "admin trail",
    include_str!("../../migrations/postgres/4000_admin_trail.sql"),
)];

/// Errors of the trail store. Messages never contain credentials (a database URL's password is
/// not echoed: sqlx's connection errors do not include the URL).
#[derive(Debug, thiserror::Error)]
pub enum TrailError {
    #[error("unsupported storage url scheme (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
    #[error("audit trail database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("audit trail migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("audit trail head row is missing (migration 4000 not applied?)")]
    NoHead,
}

#[derive(Debug, Clone)]
pub(super) enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

type Row = (
    i64,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
);

const SELECT_ALL: &str = "SELECT seq, at, actor, action, target, outcome, detail, prev_hash, entry_hash \
     FROM tidegate_admin_trail ORDER BY seq";

fn row_to_entry(r: Row) -> Entry {
    Entry {
        seq: r.0,
        at: r.1,
        actor: r.2,
        action: r.3,
        target: r.4,
        outcome: r.5,
        detail: r.6,
        prev_hash: r.7,
        entry_hash: r.8,
    }
}

fn next_entry(head_seq: i64, head_hash: &str, new: &NewEntry<'_>) -> Result<Entry, TrailError> {
    let mut e = Entry {
        seq: head_seq + 1,
        at: format_at(time::OffsetDateTime::now_utc()),
        actor: new.actor.as_str().to_owned(),
        action: new.action.to_owned(),
        target: new.target.to_owned(),
        outcome: new.outcome.as_str().to_owned(),
        detail: new.detail.map(str::to_owned),
        prev_hash: head_hash.to_owned(),
        entry_hash: String::new(),
    };
    // A head hash that is not 64 hex digits means the head row itself was tampered with; we
    // refuse to extend a chain we cannot link to.
    e.entry_hash = entry_hash(head_hash, &e).ok_or(TrailError::NoHead)?;
    Ok(e)
}

impl Store {
    pub(super) async fn connect(url: &str, create: bool) -> Result<Self, TrailError> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(create)
                .busy_timeout(Duration::from_secs(10));
            if create
                && let Some(parent) = opts.get_filename().parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent)
                    .map_err(|e| TrailError::Database(sqlx::Error::Io(e)))?;
            }
            // An in-memory database exists per connection: keep exactly one.
            let memory = url.contains(":memory:");
            let pool = SqlitePoolOptions::new()
                .max_connections(if memory { 1 } else { 4 })
                .connect_with(opts)
                .await?;
            Ok(Store::Sqlite(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(5))
                .connect(url)
                .await?;
            Ok(Store::Postgres(pool))
        } else {
            Err(TrailError::UnsupportedUrl)
        }
    }

    pub(super) async fn migrate(&self) -> Result<(), TrailError> {
        match self {
            Store::Sqlite(p) => {
                tidegate_vault::store::shared_migrator(SQLITE_MIGRATIONS)
                    .run(p)
                    .await?
            }
            Store::Postgres(p) => {
                tidegate_vault::store::shared_migrator(POSTGRES_MIGRATIONS)
                    .run(p)
                    .await?
            }
        }
        Ok(())
    }

    pub(super) async fn append(&self, new: &NewEntry<'_>) -> Result<Entry, TrailError> {
        match self {
            Store::Sqlite(pool) => {
                // IMMEDIATE takes the write lock now, so no other writer can read the same head.
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let head: Option<(i64, String)> = sqlx::query_as(
                    "SELECT seq, entry_hash FROM tidegate_admin_trail_head WHERE id = 1",
                )
                .fetch_optional(&mut *tx)
                .await?;
                let (seq, hash) = head.ok_or(TrailError::NoHead)?;
                let e = next_entry(seq, &hash, new)?;
                sqlx::query(
                    "INSERT INTO tidegate_admin_trail \
                     (seq, at, actor, action, target, outcome, detail, prev_hash, entry_hash) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(e.seq)
                .bind(&e.at)
                .bind(&e.actor)
                .bind(&e.action)
                .bind(&e.target)
                .bind(&e.outcome)
                .bind(&e.detail)
                .bind(&e.prev_hash)
                .bind(&e.entry_hash)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE tidegate_admin_trail_head SET seq = ?, entry_hash = ? WHERE id = 1",
                )
                .bind(e.seq)
                .bind(&e.entry_hash)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(e)
            }
            Store::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                // The row lock serializes appends across processes until this transaction ends.
                let head: Option<(i64, String)> = sqlx::query_as(
                    "SELECT seq, entry_hash FROM tidegate_admin_trail_head WHERE id = 1 FOR UPDATE",
                )
                .fetch_optional(&mut *tx)
                .await?;
                let (seq, hash) = head.ok_or(TrailError::NoHead)?;
                let e = next_entry(seq, &hash, new)?;
                sqlx::query(
                    "INSERT INTO tidegate_admin_trail \
                     (seq, at, actor, action, target, outcome, detail, prev_hash, entry_hash) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(e.seq)
                .bind(&e.at)
                .bind(&e.actor)
                .bind(&e.action)
                .bind(&e.target)
                .bind(&e.outcome)
                .bind(&e.detail)
                .bind(&e.prev_hash)
                .bind(&e.entry_hash)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE tidegate_admin_trail_head SET seq = $1, entry_hash = $2 WHERE id = 1",
                )
                .bind(e.seq)
                .bind(&e.entry_hash)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(e)
            }
        }
    }

    pub(super) async fn entries(&self) -> Result<Vec<Entry>, TrailError> {
        let rows: Vec<Row> = match self {
            Store::Sqlite(p) => sqlx::query_as(SELECT_ALL).fetch_all(p).await?,
            Store::Postgres(p) => sqlx::query_as(SELECT_ALL).fetch_all(p).await?,
        };
        Ok(rows.into_iter().map(row_to_entry).collect())
    }

    pub(super) async fn is_initialized(&self) -> Result<bool, TrailError> {
        let found: (bool,) = match self {
            Store::Sqlite(p) => {
                sqlx::query_as(
                    "SELECT count(*) > 0 FROM sqlite_master \
                     WHERE type = 'table' AND name = 'tidegate_admin_trail_head'",
                )
                .fetch_one(p)
                .await?
            }
            Store::Postgres(p) => {
                sqlx::query_as("SELECT to_regclass('tidegate_admin_trail_head') IS NOT NULL")
                    .fetch_one(p)
                    .await?
            }
        };
        Ok(found.0)
    }

    pub(super) async fn head(&self) -> Result<(i64, String), TrailError> {
        const Q: &str = "SELECT seq, entry_hash FROM tidegate_admin_trail_head WHERE id = 1";
        let head: Option<(i64, String)> = match self {
            Store::Sqlite(p) => sqlx::query_as(Q).fetch_optional(p).await?,
            Store::Postgres(p) => sqlx::query_as(Q).fetch_optional(p).await?,
        };
        head.ok_or(TrailError::NoHead)
    }
}
