//! Persistence of accounts and pending connect flows: one [`Store`] trait, two real backends
//! (SQLite embedded, PostgreSQL shared by several gateway processes), both via `sqlx` runtime
//! queries and embedded migrations numbered 1000+ (other crates own other ranges of the same
//! migration table).
//!
//! The store sees only ciphertext: `credentials` is sealed by the account's data key, and
//! `wrapped_key` is that data key wrapped by the master key, which never reaches the database.

mod migrate;
pub use migrate::migrator as shared_migrator;
mod sql;

use std::{future::Future, pin::Pin};

pub use sql::{PostgresStore, SqliteStore};

/// A boxed future returning a store result.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A storage failure. Never contains credential bytes.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database answered with an error or could not be reached.
    #[error("storage: {0}")]
    Db(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("storage migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The `storage.url` is not one this build supports.
    #[error("storage url: {0}")]
    Url(String),
    /// A row holds a value this build does not understand.
    #[error("storage: corrupt row: {0}")]
    Corrupt(String),
}

/// Whether an account's grant is usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Credentials are usable (possibly after a refresh).
    Active,
    /// The provider revoked the grant; only a new connect (or PUT) revives the account.
    NeedsReauth,
}

impl AccountStatus {
    /// The stored / wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::NeedsReauth => "needs_reauth",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "active" => Ok(AccountStatus::Active),
            "needs_reauth" => Ok(AccountStatus::NeedsReauth),
            other => Err(StoreError::Corrupt(format!(
                "unknown account status {other:?}"
            ))),
        }
    }
}

/// One stored account, exactly as in the database (credentials still sealed).
#[derive(Clone, PartialEq, Eq)]
pub struct AccountRecord {
    /// The integrated account id.
    pub id: String,
    /// The connector (config table name).
    pub connector: String,
    /// The environment that owns the account.
    pub environment: String,
    /// `oauth2`, `api_key`, `basic` or `none`.
    pub auth_type: String,
    /// Usable or needs re-authorization.
    pub status: AccountStatus,
    /// Why the status is what it is (provider error code), never a secret.
    pub status_reason: Option<String>,
    /// The credentials JSON sealed by the account's data key.
    pub credentials: Vec<u8>,
    /// The account's data key wrapped by the master key.
    pub wrapped_key: Vec<u8>,
    /// Id of the master key that wrapped `wrapped_key`.
    pub key_id: String,
    /// Access-token expiry (unix ms), when known.
    pub expires_at: Option<i64>,
    /// Last successful refresh (unix ms).
    pub last_refreshed_at: Option<i64>,
    /// Number of successful refreshes.
    pub refresh_count: i64,
    /// Compare-and-swap fence: every write increments it.
    pub version: i64,
    /// Creation time (unix ms).
    pub created_at: i64,
    /// Last write (unix ms).
    pub updated_at: i64,
}

impl std::fmt::Debug for AccountRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRecord")
            .field("id", &self.id)
            .field("connector", &self.connector)
            .field("environment", &self.environment)
            .field("status", &self.status)
            .field("key_id", &self.key_id)
            .field("expires_at", &self.expires_at)
            .field("version", &self.version)
            .field(
                "credentials",
                &format_args!("[{} sealed bytes]", self.credentials.len()),
            )
            .finish_non_exhaustive()
    }
}

/// Whether a put created or replaced the account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// No account with that id existed.
    Created,
    /// An existing account was replaced (its version incremented).
    Replaced,
}

/// A pending OAuth connect flow, keyed by its `state`.
#[derive(Clone)]
pub struct ConnectState {
    /// The random `state` parameter (also the key).
    pub state: String,
    /// Connector being connected.
    pub connector: String,
    /// Environment the new account will belong to.
    pub environment: String,
    /// The account id to create or replace.
    pub account_id: String,
    /// Where to send the user back to.
    pub redirect_uri: String,
    /// The PKCE code verifier, sealed.
    pub verifier: Vec<u8>,
    /// The data key sealing `verifier`, wrapped.
    pub wrapped_key: Vec<u8>,
    /// Expiry (unix ms).
    pub expires_at: i64,
}

/// The persistence the vault needs. Implementations must make [`Store::compare_and_swap`]
/// atomic: it is the fencing check that stops a refresh holder whose lock expired from
/// overwriting a newer token.
pub trait Store: Send + Sync + 'static {
    /// The account, if it exists.
    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<AccountRecord>>;
    /// Creates or replaces an account. The stored version becomes `old + 1` (or 1); the
    /// record's `version` field is ignored.
    fn put<'a>(&'a self, record: &'a AccountRecord) -> StoreFuture<'a, PutOutcome>;
    /// Writes `record` (with version `expected_version + 1`) only if the stored version is still
    /// `expected_version`. `Ok(false)`: someone else wrote first, nothing was changed.
    fn compare_and_swap<'a>(
        &'a self,
        record: &'a AccountRecord,
        expected_version: i64,
    ) -> StoreFuture<'a, bool>;
    /// Deletes an account, overwriting its ciphertext and wrapped key first (crypto-shredding).
    fn delete<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool>;
    /// All accounts, ordered by id.
    fn list(&self) -> StoreFuture<'_, Vec<AccountRecord>>;
    /// Active OAuth accounts with an expiry at or before `before_ms`:
    /// `(id, connector, expires_at)`, soonest first.
    fn due_for_refresh(&self, before_ms: i64) -> StoreFuture<'_, Vec<(String, String, i64)>>;
    /// Saves a pending connect flow.
    fn put_connect_state<'a>(&'a self, state: &'a ConnectState) -> StoreFuture<'a, ()>;
    /// Removes and returns a pending connect flow (single use), if it exists and has not
    /// expired at `now_ms`. Expired states are purged on the way.
    fn take_connect_state<'a>(
        &'a self,
        state: &'a str,
        now_ms: i64,
    ) -> StoreFuture<'a, Option<ConnectState>>;
    /// A cheap round trip, for `/readyz`.
    fn ping(&self) -> StoreFuture<'_, ()>;
    /// How many accounts each `(connector, status)` has, for the `tidegate_accounts` gauge.
    /// The default counts [`Store::list`]; the SQL stores answer with one `GROUP BY`.
    fn count_by_status(&self) -> StoreFuture<'_, Vec<(String, AccountStatus, u64)>> {
        Box::pin(async move {
            let mut counts: Vec<(String, AccountStatus, u64)> = Vec::new();
            for r in self.list().await? {
                match counts
                    .iter_mut()
                    .find(|(c, s, _)| *c == r.connector && *s == r.status)
                {
                    Some((_, _, n)) => *n += 1,
                    None => counts.push((r.connector, r.status, 1)),
                }
            }
            Ok(counts)
        })
    }
}

/// Opens the store named by `url` (`sqlite://PATH`, `sqlite::memory:`, `postgres://...`) and
/// applies the vault's migrations.
pub async fn open_store(url: &str) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(PostgresStore::open(url).await?))
    } else {
        Err(StoreError::Url(format!(
            "unsupported scheme in {:?}: use sqlite://PATH or postgres://...",
            url.split(':').next().unwrap_or("")
        )))
    }
}
