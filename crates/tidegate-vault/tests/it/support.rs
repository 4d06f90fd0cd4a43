//! Shared fixtures: stores (SQLite temp file, PostgreSQL fresh schema), Redis locks with a
//! random key prefix, vault builders and a collecting event sink.

use std::{
    future::Future,
    path::PathBuf,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use tidegate_crypto::MasterKey;
use tidegate_vault::{
    AccountEvent, ConnectorAuth, EventSink, OAuth2Settings, PutAccount, Vault, VaultOptions,
    lock::{LocalLock, RedisLock, RefreshLock},
    store::{PostgresStore, SqliteStore, Store},
};

pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    tidegate_crypto::fill_random(&mut b);
    hex::encode(b)
}

/// A SQLite store in a fresh temp dir (kept alive by the returned guard).
pub async fn sqlite_store() -> (tempfile::TempDir, Arc<SqliteStore>, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.db");
    let store = SqliteStore::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    (dir, Arc::new(store), path)
}

/// A PostgreSQL store in a fresh schema `tg_test_<random>`, dropped when the guard drops.
pub struct PgSchema {
    pub store: Arc<PostgresStore>,
    url: String,
    schema: String,
}

impl PgSchema {
    pub async fn new() -> Option<Self> {
        let Ok(url) = std::env::var("TIDEGATE_TEST_DATABASE_URL") else {
            eprintln!("SKIPPED: PostgreSQL test (set TIDEGATE_TEST_DATABASE_URL)");
            return None;
        };
        let schema = format!("tg_test_{}", random_hex(6));
        let admin = sqlx::PgPool::connect(&url)
            .await
            .expect("connect to TIDEGATE_TEST_DATABASE_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        Some(Self {
            store: Arc::new(Self::open_pool(&url, &schema).await),
            url,
            schema,
        })
    }

    /// Another, independent pool on the same schema (a second "process").
    pub async fn another_store(&self) -> Arc<PostgresStore> {
        Arc::new(Self::open_pool(&self.url, &self.schema).await)
    }

    async fn open_pool(url: &str, schema: &str) -> PostgresStore {
        let set = format!("SET search_path TO {schema}");
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(5)
            .after_connect(move |conn, _meta| {
                let set = set.clone();
                Box::pin(async move {
                    sqlx::query(sqlx::AssertSqlSafe(set))
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            })
            .connect(url)
            .await
            .unwrap();
        PostgresStore::from_pool(pool).await.unwrap()
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        // A fresh runtime on a plain thread: works even while the test's runtime unwinds.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok(pool) = sqlx::PgPool::connect(&url).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS {schema} CASCADE"
                    )))
                    .execute(&pool)
                    .await;
                    pool.close().await;
                }
            });
        })
        .join();
    }
}

/// A Redis lock backend plus a random key prefix; keys under the prefix are deleted on drop.
pub struct RedisFixture {
    pub lock: Arc<RedisLock>,
    pub prefix: String,
    pub url: String,
}

impl RedisFixture {
    pub fn new() -> Option<Self> {
        let Ok(url) = std::env::var("TIDEGATE_TEST_REDIS_URL") else {
            eprintln!("SKIPPED: Redis test (set TIDEGATE_TEST_REDIS_URL)");
            return None;
        };
        Some(Self {
            lock: Arc::new(RedisLock::new(&url).unwrap()),
            prefix: format!("tg_test_{}:", random_hex(6)),
            url,
        })
    }

    /// Every key under this fixture's prefix with its string value (if a string).
    pub async fn keys_and_values(&self) -> Vec<(String, Option<Vec<u8>>)> {
        scan_redis(&self.url, &format!("{}*", self.prefix)).await
    }
}

pub async fn scan_redis(url: &str, pattern: &str) -> Vec<(String, Option<Vec<u8>>)> {
    let client = redis::Client::open(url).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let mut cursor: u64 = 0;
    let mut out = Vec::new();
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut con)
            .await
            .unwrap();
        for k in keys {
            let t: String = redis::cmd("TYPE")
                .arg(&k)
                .query_async(&mut con)
                .await
                .unwrap();
            let v: Option<Vec<u8>> = if t == "string" {
                redis::cmd("GET")
                    .arg(&k)
                    .query_async(&mut con)
                    .await
                    .unwrap()
            } else {
                None
            };
            out.push((k, v));
        }
        cursor = next;
        if cursor == 0 {
            return out;
        }
    }
}

impl Drop for RedisFixture {
    fn drop(&mut self) {
        let (url, pattern) = (self.url.clone(), format!("{}*", self.prefix));
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let client = redis::Client::open(url.as_str()).unwrap();
                let Ok(mut con) = client.get_multiplexed_async_connection().await else {
                    return;
                };
                for (k, _) in scan_redis(&url, &pattern).await {
                    let _: Result<i64, _> = redis::cmd("DEL").arg(k).query_async(&mut con).await;
                }
            });
        })
        .join();
    }
}

/// Collects events in memory.
#[derive(Default)]
pub struct CollectingSink(pub Mutex<Vec<AccountEvent>>);

impl CollectingSink {
    pub fn types(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.event_type.clone())
            .collect()
    }
}

impl EventSink for CollectingSink {
    fn emit(&self, event: AccountEvent) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.0.lock().unwrap().push(event);
        Box::pin(async {})
    }
}

pub fn oauth(token_url: &str) -> OAuth2Settings {
    let mut s = OAuth2Settings::new("tidegate", "tidegate-fixture-secret", token_url);
    s.revoked_errors = vec!["BAD_REFRESH_TOKEN".into(), "invalid_refresh_token".into()];
    s
}

pub fn fast_options() -> VaultOptions {
    VaultOptions {
        token_timeout: Duration::from_secs(5),
        lock_prefix: format!("tg_test_{}:", random_hex(4)),
        ..VaultOptions::default()
    }
}

/// A vault with connectors `crm` (oauth2 at `token_url`), `keyed` (api_key in X-Api-Key),
/// `plain` (basic).
pub fn vault(
    store: Arc<dyn Store>,
    lock: Arc<dyn RefreshLock>,
    kek: MasterKey,
    token_url: &str,
    events: Arc<dyn EventSink>,
    opts: VaultOptions,
) -> Vault {
    Vault::builder(store, lock, kek)
        .connector("crm", ConnectorAuth::OAuth2(oauth(token_url)))
        .connector(
            "keyed",
            ConnectorAuth::ApiKey {
                header: Some("X-Api-Key".into()),
                query: None,
                prefix: None,
            },
        )
        .connector("plain", ConnectorAuth::Basic)
        .events(events)
        .options(opts)
        .build()
}

pub fn local_lock() -> Arc<dyn RefreshLock> {
    Arc::new(LocalLock::new())
}

/// PUT body of an OAuth account whose access token is already expired.
pub fn expired_oauth(access: &str, refresh: &str) -> PutAccount {
    put_oauth(access, refresh, "2020-01-01T00:00:00Z")
}

pub fn put_oauth(access: &str, refresh: &str, expires_at: &str) -> PutAccount {
    serde_json::from_value(serde_json::json!({
        "connector": "crm", "environment": "production",
        "credentials": { "access_token": access, "refresh_token": refresh, "expires_at": expires_at }
    }))
    .unwrap()
}
