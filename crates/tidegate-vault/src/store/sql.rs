//! The SQLite and PostgreSQL stores. Both run the same SQL text (`$n` placeholders work in
//! both engines), so the implementation is written once and stamped out per backend by
//! `sql_store!`: a generic-over-`Database` version needs a wall of higher-ranked bounds that
//! explains less than the duplication it avoids.

use std::str::FromStr;

use sqlx::Row;

use super::{
    AccountRecord, AccountStatus, ConnectState, PutOutcome, Store, StoreError, StoreFuture, migrate,
};

const SELECT_ACCOUNT: &str = "SELECT id, connector, environment, auth_type, status, status_reason, credentials, \
     wrapped_key, key_id, expires_at, last_refreshed_at, refresh_count, version, created_at, updated_at \
     FROM tg_vault_accounts";

const UPSERT_ACCOUNT: &str = "INSERT INTO tg_vault_accounts (id, connector, environment, auth_type, status, \
     status_reason, credentials, wrapped_key, key_id, expires_at, last_refreshed_at, refresh_count, version, \
     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1, $13, $13) \
     ON CONFLICT (id) DO UPDATE SET connector = excluded.connector, environment = excluded.environment, \
     auth_type = excluded.auth_type, status = excluded.status, status_reason = excluded.status_reason, \
     credentials = excluded.credentials, wrapped_key = excluded.wrapped_key, key_id = excluded.key_id, \
     expires_at = excluded.expires_at, last_refreshed_at = excluded.last_refreshed_at, \
     refresh_count = excluded.refresh_count, version = tg_vault_accounts.version + 1, \
     updated_at = excluded.updated_at \
     RETURNING version";

const CAS_ACCOUNT: &str = "UPDATE tg_vault_accounts SET status = $2, status_reason = $3, credentials = $4, \
     wrapped_key = $5, key_id = $6, expires_at = $7, last_refreshed_at = $8, refresh_count = $9, \
     updated_at = $10, version = version + 1 WHERE id = $1 AND version = $11";

fn account_from_row<R>(row: &R) -> Result<AccountRecord, StoreError>
where
    R: Row,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(AccountRecord {
        id: row.try_get("id")?,
        connector: row.try_get("connector")?,
        environment: row.try_get("environment")?,
        auth_type: row.try_get("auth_type")?,
        status: AccountStatus::parse(&row.try_get::<String, _>("status")?)?,
        status_reason: row.try_get("status_reason")?,
        credentials: row.try_get("credentials")?,
        wrapped_key: row.try_get("wrapped_key")?,
        key_id: row.try_get("key_id")?,
        expires_at: row.try_get("expires_at")?,
        last_refreshed_at: row.try_get("last_refreshed_at")?,
        refresh_count: row.try_get("refresh_count")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn now_ms() -> i64 {
    crate::clock::now_ms()
}

macro_rules! sql_store {
    ($(#[$doc:meta])* $name:ident, $pool:ty, $migrator:path) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name {
            pool: $pool,
        }

        impl $name {
            /// Wraps an existing pool (e.g. one whose connections set a test schema's
            /// `search_path`) and applies the vault's migrations.
            pub async fn from_pool(pool: $pool) -> Result<Self, StoreError> {
                $migrator().run(&pool).await?;
                Ok(Self { pool })
            }

            /// The underlying pool (other crates may share it for their own tables).
            pub fn pool(&self) -> &$pool {
                &self.pool
            }
        }

        impl Store for $name {
            fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<AccountRecord>> {
                Box::pin(async move {
                    let sql = sqlx::AssertSqlSafe(format!("{SELECT_ACCOUNT} WHERE id = $1"));
                    let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
                    row.as_ref().map(account_from_row).transpose()
                })
            }

            fn put<'a>(&'a self, r: &'a AccountRecord) -> StoreFuture<'a, PutOutcome> {
                Box::pin(async move {
                    let version: i64 = sqlx::query_scalar(UPSERT_ACCOUNT)
                        .bind(&r.id)
                        .bind(&r.connector)
                        .bind(&r.environment)
                        .bind(&r.auth_type)
                        .bind(r.status.as_str())
                        .bind(&r.status_reason)
                        .bind(&r.credentials)
                        .bind(&r.wrapped_key)
                        .bind(&r.key_id)
                        .bind(r.expires_at)
                        .bind(r.last_refreshed_at)
                        .bind(r.refresh_count)
                        .bind(now_ms())
                        .fetch_one(&self.pool)
                        .await?;
                    Ok(if version == 1 { PutOutcome::Created } else { PutOutcome::Replaced })
                })
            }

            fn compare_and_swap<'a>(&'a self, r: &'a AccountRecord, expected_version: i64) -> StoreFuture<'a, bool> {
                Box::pin(async move {
                    let done = sqlx::query(CAS_ACCOUNT)
                        .bind(&r.id)
                        .bind(r.status.as_str())
                        .bind(&r.status_reason)
                        .bind(&r.credentials)
                        .bind(&r.wrapped_key)
                        .bind(&r.key_id)
                        .bind(r.expires_at)
                        .bind(r.last_refreshed_at)
                        .bind(r.refresh_count)
                        .bind(now_ms())
                        .bind(expected_version)
                        .execute(&self.pool)
                        .await?;
                    Ok(done.rows_affected() == 1)
                })
            }

            fn delete<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
                Box::pin(async move {
                    let mut tx = self.pool.begin().await?;
                    // Overwrite before deleting, so the freed row holds no key or ciphertext
                    // (SQLite additionally runs with secure_delete).
                    sqlx::query("UPDATE tg_vault_accounts SET credentials = $2, wrapped_key = $2 WHERE id = $1")
                        .bind(id)
                        .bind(Vec::<u8>::new())
                        .execute(&mut *tx)
                        .await?;
                    let done = sqlx::query("DELETE FROM tg_vault_accounts WHERE id = $1").bind(id).execute(&mut *tx).await?;
                    tx.commit().await?;
                    self.after_delete().await;
                    Ok(done.rows_affected() == 1)
                })
            }

            fn list(&self) -> StoreFuture<'_, Vec<AccountRecord>> {
                Box::pin(async move {
                    let sql = sqlx::AssertSqlSafe(format!("{SELECT_ACCOUNT} ORDER BY id"));
                    let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
                    rows.iter().map(account_from_row).collect()
                })
            }

            fn count_by_status(&self) -> StoreFuture<'_, Vec<(String, AccountStatus, u64)>> {
                Box::pin(async move {
                    let rows = sqlx::query(
                        "SELECT connector, status, COUNT(*) AS n FROM tg_vault_accounts GROUP BY connector, status",
                    )
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter()
                        .map(|r| {
                            let status: String = r.try_get("status")?;
                            let n: i64 = r.try_get("n")?;
                            Ok((r.try_get("connector")?, AccountStatus::parse(&status)?, n.max(0) as u64))
                        })
                        .collect()
                })
            }

            fn due_for_refresh(&self, before_ms: i64) -> StoreFuture<'_, Vec<(String, String, i64)>> {
                Box::pin(async move {
                    let rows = sqlx::query(
                        "SELECT id, connector, expires_at FROM tg_vault_accounts WHERE status = 'active' \
                         AND auth_type = 'oauth2' AND expires_at IS NOT NULL AND expires_at <= $1 ORDER BY expires_at",
                    )
                    .bind(before_ms)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("connector")?, r.try_get("expires_at")?))).collect()
                })
            }

            fn put_connect_state<'a>(&'a self, s: &'a ConnectState) -> StoreFuture<'a, ()> {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO tg_vault_connect_states (state, connector, environment, account_id, \
                         redirect_uri, verifier, wrapped_key, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(&s.state)
                    .bind(&s.connector)
                    .bind(&s.environment)
                    .bind(&s.account_id)
                    .bind(&s.redirect_uri)
                    .bind(&s.verifier)
                    .bind(&s.wrapped_key)
                    .bind(s.expires_at)
                    .execute(&self.pool)
                    .await?;
                    Ok(())
                })
            }

            fn take_connect_state<'a>(&'a self, state: &'a str, now_ms: i64) -> StoreFuture<'a, Option<ConnectState>> {
                Box::pin(async move {
                    sqlx::query("DELETE FROM tg_vault_connect_states WHERE expires_at < $1")
                        .bind(now_ms)
                        .execute(&self.pool)
                        .await?;
                    // DELETE ... RETURNING: of two concurrent callbacks with the same state,
                    // exactly one gets the row.
                    let row = sqlx::query(
                        "DELETE FROM tg_vault_connect_states WHERE state = $1 RETURNING state, connector, \
                         environment, account_id, redirect_uri, verifier, wrapped_key, expires_at",
                    )
                    .bind(state)
                    .fetch_optional(&self.pool)
                    .await?;
                    let Some(r) = row else { return Ok(None) };
                    let s = ConnectState {
                        state: r.try_get("state")?,
                        connector: r.try_get("connector")?,
                        environment: r.try_get("environment")?,
                        account_id: r.try_get("account_id")?,
                        redirect_uri: r.try_get("redirect_uri")?,
                        verifier: r.try_get("verifier")?,
                        wrapped_key: r.try_get("wrapped_key")?,
                        expires_at: r.try_get("expires_at")?,
                    };
                    Ok((s.expires_at >= now_ms).then_some(s))
                })
            }

            fn ping(&self) -> StoreFuture<'_, ()> {
                Box::pin(async move {
                    sqlx::query("SELECT 1").execute(&self.pool).await?;
                    Ok(())
                })
            }
        }
    };
}

sql_store!(
    /// The embedded default: one SQLite file (WAL mode, `secure_delete` on, so deleted rows
    /// are zeroed on disk). Several processes on one host may share it; use PostgreSQL for
    /// several hosts.
    SqliteStore,
    sqlx::SqlitePool,
    migrate::sqlite
);

sql_store!(
    /// PostgreSQL, for several gateway processes sharing accounts.
    PostgresStore,
    sqlx::PgPool,
    migrate::postgres
);

impl SqliteStore {
    /// Opens (creating if missing) the SQLite database at `url` (`sqlite://PATH` or
    /// `sqlite::memory:`) and applies migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
        let memory = url.contains(":memory:");
        let mut opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .busy_timeout(std::time::Duration::from_secs(10))
            .pragma("secure_delete", "ON");
        if !memory {
            opts = opts.journal_mode(SqliteJournalMode::Wal);
            if let Some(parent) = opts.get_filename().parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Url(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
        }
        // An in-memory database lives per connection: keep exactly one.
        let pool = SqlitePoolOptions::new()
            .max_connections(if memory { 1 } else { 4 })
            .connect_with(opts)
            .await?;
        Self::from_pool(pool).await
    }
}

impl SqliteStore {
    /// Checkpoints the WAL into the main file and truncates it, so the deleted row's old page
    /// images do not linger in the `-wal` file (best effort: a concurrent reader may keep
    /// some frames alive until the next checkpoint).
    async fn after_delete(&self) {
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await
        {
            tracing::warn!(error = %e, "WAL checkpoint after delete failed");
        }
    }
}

impl PostgresStore {
    /// PostgreSQL keeps dead tuples until VACUUM; nothing to do per delete (see
    /// docs/credentials.md for why crypto-shredding still holds).
    async fn after_delete(&self) {}

    /// Connects to `url` and applies migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(10)
            .connect(url)
            .await?;
        Self::from_pool(pool).await
    }
}
