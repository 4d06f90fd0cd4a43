//! The cursor of each (connector, account, object): high-water mark, the run in progress and
//! the last run's outcome — in the same database as the vault and the events (SQLite or
//! PostgreSQL), migrations 3000+ (sharing sqlx's migration table with `ignore_missing`).
//!
//! The cursor moves only in [`StateStore::page_done`], which the engine calls AFTER the page's
//! events are durably queued; so a crash at any point resumes from the last committed page
//! (the page after it is fetched again; the ledger drops what it already announced).

use std::{str::FromStr, time::Duration};

use sqlx::{
    PgPool, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions},
};

/// A storage failure (no record data in it).
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The database failed.
    #[error("reconcile state store: {0}")]
    Db(#[from] sqlx::Error),
    /// A migration failed.
    #[error("reconcile state migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Neither sqlite: nor postgres:.
    #[error("unsupported storage url scheme (expected sqlite: or postgres:)")]
    UnsupportedUrl,
}

/// A run that started and has not completed (crashed, failed, or still running).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InProgress {
    /// When it started (becomes the high-water mark when it completes), Unix ms.
    pub started_at: i64,
    /// Its `{since}`, Unix ms.
    pub since: i64,
    /// The next page to fetch (`None`: the first page).
    pub next_page: Option<String>,
    /// Pages committed so far.
    pub pages: u64,
    /// Records scanned so far.
    pub scanned: u64,
    /// Missed versions queued so far.
    pub missed: u64,
}

/// The stored state of one cursor.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CursorState {
    /// Connector.
    pub connector: String,
    /// Account.
    pub account_id: String,
    /// Object type.
    pub object: String,
    /// Start of the last completed run (Unix ms).
    pub hwm: Option<i64>,
    /// The run in progress, if any.
    #[serde(skip)]
    pub run: Option<InProgress>,
    /// Last run start (Unix ms).
    pub last_started_at: Option<i64>,
    /// Last run end (Unix ms).
    pub last_ended_at: Option<i64>,
    /// Last run: records scanned.
    pub last_scanned: u64,
    /// Last run: missed versions found and delivered.
    pub last_missed: u64,
    /// `completed`, `failed` or `interrupted`.
    pub last_outcome: Option<String>,
    /// The cause of the last failure.
    pub last_error: Option<String>,
}

#[derive(Clone, Debug)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Cursor storage. Cheap to clone.
#[derive(Clone, Debug)]
pub struct StateStore {
    db: Db,
}

const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[(
    3000,
    "reconcile state",
    include_str!("../migrations/sqlite/3000_reconcile_state.sql"),
)];
const PG_MIGRATIONS: &[(i64, &str, &str)] = &[(
    3000,
    "reconcile state",
    include_str!("../migrations/postgres/3000_reconcile_state.sql"),
)];

type Row = (
    String,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    i64,
    i64,
    Option<String>,
    Option<String>,
);

const SELECT: &str = "SELECT connector, account_id, object, hwm, run_started_at, run_since, \
     run_next_page, run_pages, run_scanned, run_missed, last_started_at, last_ended_at, \
     last_scanned, last_missed, last_outcome, last_error FROM tg_reconcile_state";

fn from_row(r: Row) -> CursorState {
    let n = |v: i64| v.max(0) as u64;
    CursorState {
        connector: r.0,
        account_id: r.1,
        object: r.2,
        hwm: r.3,
        run: match (r.4, r.5) {
            (Some(started_at), Some(since)) => Some(InProgress {
                started_at,
                since,
                next_page: r.6,
                pages: n(r.7),
                scanned: n(r.8),
                missed: n(r.9),
            }),
            _ => None,
        },
        last_started_at: r.10,
        last_ended_at: r.11,
        last_scanned: n(r.12),
        last_missed: n(r.13),
        last_outcome: r.14,
        last_error: r.15,
    }
}

macro_rules! exec {
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

macro_rules! fetch {
    ($db:expr, $sql:expr, |$q:ident| $body:expr) => {
        match $db {
            Db::Sqlite(pool) => {
                let $q = sqlx::query_as::<_, Row>($sql);
                $body.fetch_all(pool).await?
            }
            Db::Postgres(pool) => {
                let $q = sqlx::query_as::<_, Row>($sql);
                $body.fetch_all(pool).await?
            }
        }
    };
}

impl StateStore {
    /// Opens `url` (`sqlite://PATH`, `sqlite::memory:`, `postgres://...`) and migrates.
    pub async fn connect(url: &str) -> Result<Self, StateError> {
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
            let pool = SqlitePoolOptions::new()
                .max_connections(if memory { 1 } else { 2 })
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(opts)
                .await?;
            Self {
                db: Db::Sqlite(pool),
            }
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new().max_connections(4).connect(url).await?;
            Self {
                db: Db::Postgres(pool),
            }
        } else {
            return Err(StateError::UnsupportedUrl);
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies this crate's migrations (3000+).
    pub async fn migrate(&self) -> Result<(), StateError> {
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

    /// The state of one cursor (default: never run).
    pub async fn load(
        &self,
        connector: &str,
        account_id: &str,
        object: &str,
    ) -> Result<CursorState, StateError> {
        let sql = "SELECT connector, account_id, object, hwm, run_started_at, run_since, \
             run_next_page, run_pages, run_scanned, run_missed, last_started_at, last_ended_at, \
             last_scanned, last_missed, last_outcome, last_error FROM tg_reconcile_state \
             WHERE connector = $1 AND account_id = $2 AND object = $3";
        let rows = fetch!(&self.db, sql, |q| q
            .bind(connector)
            .bind(account_id)
            .bind(object));
        Ok(rows
            .into_iter()
            .next()
            .map(from_row)
            .unwrap_or(CursorState {
                connector: connector.into(),
                account_id: account_id.into(),
                object: object.into(),
                ..CursorState::default()
            }))
    }

    /// Every cursor, ordered by connector, account, object.
    pub async fn list(&self) -> Result<Vec<CursorState>, StateError> {
        let sql = "SELECT connector, account_id, object, hwm, run_started_at, run_since, \
             run_next_page, run_pages, run_scanned, run_missed, last_started_at, last_ended_at, \
             last_scanned, last_missed, last_outcome, last_error FROM tg_reconcile_state \
             ORDER BY connector, account_id, object";
        debug_assert!(sql.starts_with(SELECT));
        let rows = fetch!(&self.db, sql, |q| q);
        Ok(rows.into_iter().map(from_row).collect())
    }

    /// Starts a run (no run in progress): records its start and `{since}`, first page next.
    pub async fn begin_run(
        &self,
        connector: &str,
        account_id: &str,
        object: &str,
        started_at: i64,
        since: i64,
    ) -> Result<(), StateError> {
        exec!(
            &self.db,
            "INSERT INTO tg_reconcile_state (connector, account_id, object, run_started_at, run_since, \
             run_next_page, run_pages, run_scanned, run_missed, last_started_at) \
             VALUES ($1, $2, $3, $4, $5, NULL, 0, 0, 0, $4) \
             ON CONFLICT (connector, account_id, object) DO UPDATE SET run_started_at = $4, \
             run_since = $5, run_next_page = NULL, run_pages = 0, run_scanned = 0, run_missed = 0, \
             last_started_at = $4",
            |q| q
                .bind(connector)
                .bind(account_id)
                .bind(object)
                .bind(started_at)
                .bind(since)
        );
        Ok(())
    }

    /// Marks a resumed run's (re)start time for the status page.
    pub async fn resumed(
        &self,
        connector: &str,
        account_id: &str,
        object: &str,
        now: i64,
    ) -> Result<(), StateError> {
        exec!(
            &self.db,
            "UPDATE tg_reconcile_state SET last_started_at = $4 \
             WHERE connector = $1 AND account_id = $2 AND object = $3",
            |q| q.bind(connector).bind(account_id).bind(object).bind(now)
        );
        Ok(())
    }

    /// Commits one page: the next page token and the running totals. Call only after the
    /// page's events are durably queued.
    pub async fn page_done(
        &self,
        connector: &str,
        account_id: &str,
        object: &str,
        next_page: Option<&str>,
        run: &InProgress,
    ) -> Result<(), StateError> {
        exec!(
            &self.db,
            "UPDATE tg_reconcile_state SET run_next_page = $4, run_pages = $5, run_scanned = $6, \
             run_missed = $7 WHERE connector = $1 AND account_id = $2 AND object = $3",
            |q| q
                .bind(connector)
                .bind(account_id)
                .bind(object)
                .bind(next_page)
                .bind(run.pages as i64)
                .bind(run.scanned as i64)
                .bind(run.missed as i64)
        );
        Ok(())
    }

    /// Completes the run: the high-water mark becomes its start, the run is cleared.
    pub async fn complete(
        &self,
        connector: &str,
        account_id: &str,
        object: &str,
        run: &InProgress,
        ended_at: i64,
    ) -> Result<(), StateError> {
        exec!(
            &self.db,
            "UPDATE tg_reconcile_state SET hwm = $4, run_started_at = NULL, run_since = NULL, \
             run_next_page = NULL, last_ended_at = $5, last_scanned = $6, last_missed = $7, \
             last_outcome = 'completed', last_error = NULL \
             WHERE connector = $1 AND account_id = $2 AND object = $3",
            |q| q
                .bind(connector)
                .bind(account_id)
                .bind(object)
                .bind(run.started_at)
                .bind(ended_at)
                .bind(run.scanned as i64)
                .bind(run.missed as i64)
        );
        Ok(())
    }

    /// Records a failed (or interrupted) run; the cursor stays where it was.
    pub async fn fail(
        &self,
        connector: &str,
        account_id: &str,
        object: &str,
        outcome: &str,
        error: &str,
        ended_at: i64,
    ) -> Result<(), StateError> {
        exec!(
            &self.db,
            "UPDATE tg_reconcile_state SET last_ended_at = $4, last_outcome = $5, last_error = $6, \
             last_scanned = run_scanned, last_missed = run_missed \
             WHERE connector = $1 AND account_id = $2 AND object = $3",
            |q| q
                .bind(connector)
                .bind(account_id)
                .bind(object)
                .bind(ended_at)
                .bind(outcome)
                .bind(error)
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cursor_moves_only_when_told_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/s.db", dir.path().display());
        let s = StateStore::connect(&url).await.unwrap();
        let fresh = s.load("crm", "a", "contact").await.unwrap();
        assert_eq!(fresh.hwm, None);
        assert!(fresh.run.is_none());
        s.begin_run("crm", "a", "contact", 1_000, 500)
            .await
            .unwrap();
        let mut run = s.load("crm", "a", "contact").await.unwrap().run.unwrap();
        assert_eq!(
            (run.started_at, run.since, run.next_page.clone()),
            (1_000, 500, None)
        );
        run.pages = 1;
        run.scanned = 100;
        run.missed = 3;
        s.page_done("crm", "a", "contact", Some("tok2"), &run)
            .await
            .unwrap();
        drop(s);
        // "Crash": a new process opens the same file and finds the run where it was left.
        let s = StateStore::connect(&url).await.unwrap();
        let st = s.load("crm", "a", "contact").await.unwrap();
        let r = st.run.clone().unwrap();
        assert_eq!(r.next_page.as_deref(), Some("tok2"));
        assert_eq!((r.pages, r.scanned, r.missed), (1, 100, 3));
        s.fail(
            "crm",
            "a",
            "contact",
            "failed",
            "upstream_server_error: boom",
            1_500,
        )
        .await
        .unwrap();
        let st = s.load("crm", "a", "contact").await.unwrap();
        assert!(st.run.is_some(), "a failure keeps the cursor");
        assert_eq!(
            st.last_error.as_deref(),
            Some("upstream_server_error: boom")
        );
        s.complete("crm", "a", "contact", &r, 2_000).await.unwrap();
        let st = s.load("crm", "a", "contact").await.unwrap();
        assert_eq!(st.hwm, Some(1_000), "hwm = start of the completed run");
        assert!(st.run.is_none());
        assert_eq!(st.last_outcome.as_deref(), Some("completed"));
        assert_eq!(s.list().await.unwrap().len(), 1);
    }
}
