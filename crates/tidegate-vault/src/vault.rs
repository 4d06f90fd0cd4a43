//! [`Vault`]: the one handle to accounts, their encrypted credentials and their refresh.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{Arc, RwLock, atomic::AtomicU64},
    time::Duration,
};

use serde::{Deserialize, Serialize};

use crate::{
    clock::{now_ms, rfc3339},
    coalesce::Coalescer,
    credential::Credential,
    credentials::{Credentials, KeyRing, data_key_aad, open_with},
    error::VaultError,
    events::{AccountEvent, EventSink, LogEventSink},
    lock::RefreshLock,
    settings::{ConnectorAuth, VaultOptions},
    store::{AccountRecord, AccountStatus, PutOutcome, Store},
};

/// Test-only fault injection points inside a refresh (stall a holder past its lock TTL, etc.).
/// Production code uses the no-op default.
#[doc(hidden)]
pub trait RefreshHooks: Send + Sync + 'static {
    /// Called after the lock is taken and the store re-read, just before the token endpoint.
    fn before_token_call<'a>(
        &'a self,
        _account_id: &'a str,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async {})
    }
    /// Called after the token endpoint answered, just before the compare-and-swap write.
    fn before_store_write<'a>(
        &'a self,
        _account_id: &'a str,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async {})
    }
}

struct NoHooks;
impl RefreshHooks for NoHooks {}

/// What is cached in memory per account.
pub(crate) enum CacheEntry {
    Usable {
        cred: Arc<Credential>,
        valid_until_ms: i64,
    },
    NeedsReauth {
        reason: String,
        connector: String,
        environment: String,
        until_ms: i64,
    },
}

/// Counters for tests, benches and metrics.
#[derive(Debug, Default)]
pub struct VaultStats {
    /// Token-endpoint refresh calls made by this vault (each attempt counts).
    pub token_calls: AtomicU64,
    /// Refreshes persisted by this vault.
    pub refreshes: AtomicU64,
    /// Refresh writes rejected by the version check (a stale holder).
    pub stale_writes_rejected: AtomicU64,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) lock: Arc<dyn RefreshLock>,
    pub(crate) keys: KeyRing,
    pub(crate) connectors: HashMap<String, ConnectorAuth>,
    pub(crate) events: Arc<dyn EventSink>,
    pub(crate) http: reqwest::Client,
    pub(crate) opts: VaultOptions,
    pub(crate) cache: RwLock<HashMap<String, CacheEntry>>,
    pub(crate) flights: Coalescer<Result<Arc<Credential>, VaultError>>,
    pub(crate) hooks: Arc<dyn RefreshHooks>,
    pub(crate) stats: VaultStats,
}

/// Encrypted credential storage with serialized, proactive refresh. Cheap to clone.
///
/// ```no_run
/// # async fn demo() -> Result<(), tidegate_vault::VaultError> {
/// use std::sync::Arc;
/// use tidegate_vault::{ConnectorAuth, OAuth2Settings, Vault, lock::LocalLock, store::open_store};
/// use tidegate_crypto::MasterKey;
///
/// let vault = Vault::builder(open_store("sqlite::memory:").await?, Arc::new(LocalLock::new()), MasterKey::generate())
///     .connector("crm", ConnectorAuth::OAuth2(OAuth2Settings::new("id", "secret", "https://crm.example/token")))
///     .build();
/// let cred = vault.credential("acc_1", "crm", Some("production")).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Vault {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("master_key_id", &self.inner.keys.current().id())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Vault`].
pub struct VaultBuilder {
    store: Arc<dyn Store>,
    lock: Arc<dyn RefreshLock>,
    keys: KeyRing,
    connectors: HashMap<String, ConnectorAuth>,
    events: Arc<dyn EventSink>,
    opts: VaultOptions,
    hooks: Arc<dyn RefreshHooks>,
}

impl VaultBuilder {
    /// Registers a connector's auth settings.
    pub fn connector(mut self, name: impl Into<String>, auth: ConnectorAuth) -> Self {
        self.connectors.insert(name.into(), auth);
        self
    }

    /// Adds an earlier master key accepted for unwrapping (during a key rotation).
    pub fn previous_key(mut self, key: tidegate_crypto::MasterKey) -> Self {
        self.keys = self.keys.with_previous(key);
        self
    }

    /// Where account events go (default: logged only).
    pub fn events(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.events = sink;
        self
    }

    /// Tuning.
    pub fn options(mut self, opts: VaultOptions) -> Self {
        self.opts = opts;
        self
    }

    #[doc(hidden)]
    pub fn hooks(mut self, hooks: Arc<dyn RefreshHooks>) -> Self {
        self.hooks = hooks;
        self
    }

    /// The vault.
    pub fn build(self) -> Vault {
        let http = reqwest::Client::builder()
            .timeout(self.opts.token_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("reqwest client builds");
        Vault {
            inner: Arc::new(Inner {
                store: self.store,
                lock: self.lock,
                keys: self.keys,
                connectors: self.connectors,
                events: self.events,
                http,
                opts: self.opts,
                cache: RwLock::new(HashMap::new()),
                flights: Coalescer::default(),
                hooks: self.hooks,
                stats: VaultStats::default(),
            }),
        }
    }
}

/// `PUT /admin/accounts/{id}` body.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutAccount {
    /// Connector name.
    pub connector: String,
    /// Owning environment.
    pub environment: String,
    /// Credentials by the connector's auth type (see CONTRACT §7).
    #[serde(default)]
    pub credentials: serde_json::Value,
}

impl std::fmt::Debug for PutAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutAccount")
            .field("connector", &self.connector)
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

/// The operator view of an account (`GET /admin/accounts/{id}`). Never holds a credential.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AccountInfo {
    /// Account id.
    pub id: String,
    /// Connector.
    pub connector: String,
    /// Environment.
    pub environment: String,
    /// `active` or `needs_reauth`.
    pub status: AccountStatus,
    /// Access-token expiry (RFC 3339), when known.
    pub expires_at: Option<String>,
    /// Last successful refresh (RFC 3339).
    pub last_refreshed_at: Option<String>,
    /// Successful refreshes so far.
    pub refresh_count: i64,
    /// Why the account needs re-auth (provider error code). Not in the admin API body.
    #[serde(skip)]
    pub status_reason: Option<String>,
    /// Id of the master key wrapping the account's data key. Not in the admin API body.
    #[serde(skip)]
    pub key_id: String,
}

impl AccountInfo {
    /// The operator view of a stored record (no decryption needed).
    pub fn of(r: &AccountRecord) -> Self {
        Self {
            id: r.id.clone(),
            connector: r.connector.clone(),
            environment: r.environment.clone(),
            status: r.status,
            expires_at: r.expires_at.map(rfc3339),
            last_refreshed_at: r.last_refreshed_at.map(rfc3339),
            refresh_count: r.refresh_count,
            status_reason: r.status_reason.clone(),
            key_id: r.key_id.clone(),
        }
    }
}

/// Result of [`Vault::rotate_keys`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RotateReport {
    /// Accounts whose data key was re-wrapped under the current master key.
    pub rewrapped: usize,
    /// Accounts already wrapped by the current master key.
    pub already_current: usize,
    /// Accounts that could not be re-wrapped: `(id, reason)` (e.g. the old key was not given).
    pub failed: Vec<(String, String)>,
}

/// Whether an account id is acceptable: 1..=128 characters of `[A-Za-z0-9._:-]`.
pub fn is_valid_account_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

impl Vault {
    /// Starts building a vault over `store`, `lock` and the current master key.
    pub fn builder(
        store: Arc<dyn Store>,
        lock: Arc<dyn RefreshLock>,
        master_key: tidegate_crypto::MasterKey,
    ) -> VaultBuilder {
        VaultBuilder {
            store,
            lock,
            keys: KeyRing::new(master_key),
            connectors: HashMap::new(),
            events: Arc::new(LogEventSink),
            opts: VaultOptions::default(),
            hooks: Arc::new(NoHooks),
        }
    }

    /// The store (shared with other crates' tables when it is the same database).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// Counters.
    pub fn stats(&self) -> &VaultStats {
        &self.inner.stats
    }

    /// The auth settings of `connector`.
    pub fn connector_auth(&self, connector: &str) -> Option<&ConnectorAuth> {
        self.inner.connectors.get(connector)
    }

    /// Id of the master key new data keys are wrapped with.
    pub fn master_key_id(&self) -> String {
        self.inner.keys.current().id()
    }

    /// Storage and locks reachable (for `/readyz`).
    pub async fn ready(&self) -> Result<(), VaultError> {
        self.store_ready().await?;
        self.locks_ready().await
    }

    /// The store answers.
    pub async fn store_ready(&self) -> Result<(), VaultError> {
        Ok(self.inner.store.ping().await?)
    }

    /// The lock backend answers.
    pub async fn locks_ready(&self) -> Result<(), VaultError> {
        Ok(self.inner.lock.ping().await?)
    }

    /// A usable credential for `account_id`, which must belong to `connector` (and to
    /// `environment`, when given). The hot path is one read-locked map lookup; a token that is
    /// expired or about to expire is refreshed first (coalesced, serialized across processes).
    pub async fn credential(
        &self,
        account_id: &str,
        connector: &str,
        environment: Option<&str>,
    ) -> Result<Arc<Credential>, VaultError> {
        if let Some(hit) = self.cached(account_id, connector, environment) {
            return hit;
        }
        let cred = self
            .obtain(account_id, crate::refresh::Mode::Expiring)
            .await?;
        check_owner(&cred.connector, &cred.environment, connector, environment)?;
        Ok(cred)
    }

    /// The cached answer for `account_id`, if the cache has a still-valid one.
    pub fn cached(
        &self,
        account_id: &str,
        connector: &str,
        environment: Option<&str>,
    ) -> Option<Result<Arc<Credential>, VaultError>> {
        let now = now_ms();
        let cache = self.inner.cache.read().expect("cache poisoned");
        match cache.get(account_id)? {
            CacheEntry::Usable {
                cred,
                valid_until_ms,
            } if now < *valid_until_ms => Some(
                check_owner(&cred.connector, &cred.environment, connector, environment)
                    .map(|()| cred.clone()),
            ),
            CacheEntry::NeedsReauth {
                reason,
                connector: c,
                environment: e,
                until_ms,
            } if now < *until_ms => Some(check_owner(c, e, connector, environment).and(Err(
                VaultError::NeedsReauth {
                    reason: reason.clone(),
                },
            ))),
            _ => None,
        }
    }

    /// After the upstream answered 401 to `used`: refresh once unless someone already replaced
    /// that token, and return the credential to retry with.
    pub async fn refresh_after_rejection(
        &self,
        used: &Credential,
    ) -> Result<Arc<Credential>, VaultError> {
        self.invalidate(&used.account_id);
        self.obtain(
            &used.account_id,
            crate::refresh::Mode::Force {
                stale_version: Some(used.version),
            },
        )
        .await
    }

    /// `POST /admin/accounts/{id}/refresh`: one refresh now (serialized like any other).
    pub async fn refresh_now(&self, account_id: &str) -> Result<AccountInfo, VaultError> {
        self.obtain(
            account_id,
            crate::refresh::Mode::Force {
                stale_version: None,
            },
        )
        .await?;
        self.account(account_id)
            .await?
            .ok_or(VaultError::UnknownAccount)
    }

    pub(crate) async fn obtain(
        &self,
        account_id: &str,
        mode: crate::refresh::Mode,
    ) -> Result<Arc<Credential>, VaultError> {
        let inner = self.inner.clone();
        let id = account_id.to_owned();
        self.inner
            .flights
            .run(account_id, move || crate::refresh::obtain(inner, id, mode))
            .await
    }

    /// Drops `account_id` from the in-memory cache.
    pub fn invalidate(&self, account_id: &str) {
        self.inner
            .cache
            .write()
            .expect("cache poisoned")
            .remove(account_id);
    }

    /// `PUT /admin/accounts/{id}`: creates or replaces an account with new credentials (and a
    /// new data key). The account becomes `active`.
    pub async fn put_account(
        &self,
        id: &str,
        body: PutAccount,
    ) -> Result<(PutOutcome, AccountInfo), VaultError> {
        if !is_valid_account_id(id) {
            return Err(VaultError::Invalid(
                "account id must be 1-128 characters of A-Z a-z 0-9 . _ : -".into(),
            ));
        }
        let auth = self.inner.connectors.get(&body.connector).ok_or_else(|| {
            VaultError::Invalid(format!("unknown connector {:?}", body.connector))
        })?;
        let (creds, expires_at) = parse_credentials(auth, &body.credentials)?;
        self.store_credentials(id, &body.connector, &body.environment, &creds, expires_at)
            .await
    }

    /// Stores `creds` for `id` under a new data key, replacing any previous account.
    pub(crate) async fn store_credentials(
        &self,
        id: &str,
        connector: &str,
        environment: &str,
        creds: &Credentials,
        expires_at: Option<i64>,
    ) -> Result<(PutOutcome, AccountInfo), VaultError> {
        let auth = self
            .inner
            .connectors
            .get(connector)
            .ok_or_else(|| VaultError::Invalid(format!("unknown connector {connector:?}")))?;
        let (sealed, wrapped, key_id) = self.inner.keys.seal_new(id, creds);
        let now = now_ms();
        let record = AccountRecord {
            id: id.to_owned(),
            connector: connector.to_owned(),
            environment: environment.to_owned(),
            auth_type: auth.type_name().to_owned(),
            status: AccountStatus::Active,
            status_reason: None,
            credentials: sealed,
            wrapped_key: wrapped,
            key_id,
            expires_at,
            last_refreshed_at: None,
            refresh_count: 0,
            version: 0,
            created_at: now,
            updated_at: now,
        };
        let outcome = self.inner.store.put(&record).await?;
        self.invalidate(id);
        self.update_account_metrics_quietly().await;
        let info = self.account(id).await?.ok_or(VaultError::UnknownAccount)?;
        Ok((outcome, info))
    }

    /// `GET /admin/accounts/{id}`.
    pub async fn account(&self, id: &str) -> Result<Option<AccountInfo>, VaultError> {
        Ok(self
            .inner
            .store
            .get(id)
            .await?
            .as_ref()
            .map(AccountInfo::of))
    }

    /// All accounts (operator view).
    pub async fn list_accounts(&self) -> Result<Vec<AccountInfo>, VaultError> {
        Ok(self
            .inner
            .store
            .list()
            .await?
            .iter()
            .map(AccountInfo::of)
            .collect())
    }

    /// `DELETE /admin/accounts/{id}`: destroys the account's data key and ciphertext
    /// (crypto-shredding). `false`: no such account.
    pub async fn delete_account(&self, id: &str) -> Result<bool, VaultError> {
        let deleted = self.inner.store.delete(id).await?;
        self.invalidate(id);
        if deleted {
            self.update_account_metrics_quietly().await;
        }
        Ok(deleted)
    }

    /// Sets the `tidegate_accounts` gauge (by `connector` and `status` — never an account id)
    /// from one count query: every configured connector gets both statuses, zeros included, so
    /// a gauge falls back when its last account changes status or is deleted. Called when the
    /// refresher starts and after every status change this vault makes.
    pub async fn update_account_metrics(&self) -> Result<(), VaultError> {
        let counts = self.inner.store.count_by_status().await?;
        let mut connectors: std::collections::BTreeSet<&str> =
            self.inner.connectors.keys().map(String::as_str).collect();
        connectors.extend(counts.iter().map(|(c, _, _)| c.as_str()));
        for connector in connectors {
            for status in [AccountStatus::Active, AccountStatus::NeedsReauth] {
                let n = counts
                    .iter()
                    .filter(|(c, s, _)| c == connector && *s == status)
                    .map(|(_, _, n)| *n)
                    .sum();
                tidegate_observe::metrics::accounts(connector, status.as_str(), n);
            }
        }
        Ok(())
    }

    /// [`Vault::update_account_metrics`] where a failure must not fail the caller's operation
    /// (the write it follows already succeeded): a warning instead.
    pub(crate) async fn update_account_metrics_quietly(&self) {
        if let Err(e) = self.update_account_metrics().await {
            tracing::warn!(error = %e, "could not count accounts for the tidegate_accounts gauge");
        }
    }

    /// `tidegate keys rotate`: re-wraps every data key not wrapped by the current master key.
    /// Needs the old key(s) via [`VaultBuilder::previous_key`]. Only wrapped data keys are
    /// rewritten; no credential is decrypted.
    pub async fn rotate_keys(&self) -> Result<RotateReport, VaultError> {
        let current = self.inner.keys.current();
        let mut report = RotateReport::default();
        for mut rec in self.inner.store.list().await? {
            if rec.key_id == current.id() {
                report.already_current += 1;
                continue;
            }
            let mut attempts = 0;
            loop {
                attempts += 1;
                let aad = data_key_aad(&rec.id);
                let dk = match self.inner.keys.unwrap(&rec.wrapped_key, &aad) {
                    Ok(dk) => dk,
                    Err(e) => {
                        report.failed.push((rec.id.clone(), e.to_string()));
                        break;
                    }
                };
                let expected = rec.version;
                rec.wrapped_key = current.wrap(&dk, &aad);
                rec.key_id = current.id();
                if self.inner.store.compare_and_swap(&rec, expected).await? {
                    report.rewrapped += 1;
                    break;
                }
                // Refreshed concurrently: re-read and re-wrap the newer row.
                match self.inner.store.get(&rec.id).await? {
                    Some(newer) if attempts < 5 && newer.key_id != current.id() => rec = newer,
                    Some(newer) if newer.key_id == current.id() => {
                        report.rewrapped += 1;
                        break;
                    }
                    Some(_) => {
                        report.failed.push((
                            rec.id.clone(),
                            "kept changing during rotation; run keys rotate again".into(),
                        ));
                        break;
                    }
                    None => break,
                }
            }
        }
        Ok(report)
    }

    /// Decrypts an account's credentials (used by the connect flow and tests; never logged).
    pub async fn decrypt_credentials(&self, id: &str) -> Result<Credentials, VaultError> {
        let rec = self
            .inner
            .store
            .get(id)
            .await?
            .ok_or(VaultError::UnknownAccount)?;
        let dk = self
            .inner
            .keys
            .unwrap(&rec.wrapped_key, &data_key_aad(id))?;
        Ok(open_with(&dk, id, &rec.credentials)?)
    }

    pub(crate) async fn emit(&self, event: AccountEvent) {
        self.inner.events.emit(event).await;
    }
}

fn check_owner(
    have_connector: &str,
    have_env: &str,
    connector: &str,
    environment: Option<&str>,
) -> Result<(), VaultError> {
    if have_connector != connector || environment.is_some_and(|e| e != have_env) {
        return Err(VaultError::UnknownAccount);
    }
    Ok(())
}

/// Parses the `credentials` object of a PUT by the connector's auth type.
fn parse_credentials(
    auth: &ConnectorAuth,
    v: &serde_json::Value,
) -> Result<(Credentials, Option<i64>), VaultError> {
    let obj = match v {
        serde_json::Value::Object(o) => o,
        serde_json::Value::Null => &serde_json::Map::new(),
        _ => return Err(VaultError::Invalid("credentials must be an object".into())),
    };
    let text = |k: &str| -> Result<Option<String>, VaultError> {
        match obj.get(k) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(_) => Err(VaultError::Invalid(format!(
                "credentials.{k} must be a non-empty string"
            ))),
        }
    };
    let need = |k: &str| {
        text(k)?.ok_or_else(|| VaultError::Invalid(format!("credentials.{k} is required")))
    };
    let allowed: &[&str] = match auth {
        ConnectorAuth::OAuth2(_) => &[
            "access_token",
            "refresh_token",
            "expires_at",
            "expires_in",
            "scope",
            "token_type",
        ],
        ConnectorAuth::ApiKey { .. } => &["api_key"],
        ConnectorAuth::Basic => &["username", "password"],
        ConnectorAuth::None => &[],
    };
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(VaultError::Invalid(format!(
            "credentials.{k} is not a field of {} credentials",
            auth.type_name()
        )));
    }
    Ok(match auth {
        ConnectorAuth::OAuth2(_) => {
            let expires_at = match (obj.get("expires_at"), obj.get("expires_in")) {
                (Some(serde_json::Value::String(s)), _) => {
                    Some(crate::clock::parse_rfc3339(s).ok_or_else(|| {
                        VaultError::Invalid("credentials.expires_at must be RFC 3339".into())
                    })?)
                }
                (Some(_), _) => {
                    return Err(VaultError::Invalid(
                        "credentials.expires_at must be RFC 3339".into(),
                    ));
                }
                (None, Some(n)) => {
                    let secs = n.as_i64().ok_or_else(|| {
                        VaultError::Invalid("credentials.expires_in must be an integer".into())
                    })?;
                    Some(now_ms() + secs * 1000)
                }
                (None, None) => None,
            };
            let creds = Credentials::OAuth2 {
                access_token: need("access_token")?,
                refresh_token: text("refresh_token")?,
                scope: text("scope")?,
            };
            (creds, expires_at)
        }
        ConnectorAuth::ApiKey { .. } => (
            Credentials::ApiKey {
                api_key: need("api_key")?,
            },
            None,
        ),
        ConnectorAuth::Basic => (
            Credentials::Basic {
                username: need("username")?,
                password: need("password")?,
            },
            None,
        ),
        ConnectorAuth::None => (Credentials::None, None),
    })
}

/// Clamp for converting a Duration to milliseconds.
pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
