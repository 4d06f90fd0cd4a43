//! The vault's own view of its configuration: per-connector auth and tuning knobs.
//!
//! Kept separate from `tidegate-config`'s file schema so the vault can be built in-process
//! (tests, benches, embedding) without a TOML file; [`crate::Vault::from_config`] maps one onto
//! the other.

use std::time::Duration;

use secrecy::SecretString;

/// How the client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenAuth {
    /// `client_id` and `client_secret` in the form body (`client_secret_post`).
    #[default]
    Body,
    /// HTTP Basic (`client_secret_basic`).
    Basic,
}

/// OAuth 2.0 settings of one connector.
#[derive(Clone, Debug)]
pub struct OAuth2Settings {
    /// Client id registered at the provider.
    pub client_id: String,
    /// Client secret.
    pub client_secret: SecretString,
    /// Token endpoint.
    pub token_url: String,
    /// Authorization endpoint (needed for `/connect/{connector}`).
    pub authorize_url: Option<String>,
    /// Scopes requested on connect.
    pub scopes: Vec<String>,
    /// Proactive refresh window before expiry `[min, max]`, uniformly jittered.
    pub refresh_before: [Duration; 2],
    /// Client authentication at the token endpoint.
    pub token_auth: TokenAuth,
    /// Provider error codes (besides `invalid_grant`) meaning the grant is dead, e.g.
    /// HubSpot `BAD_REFRESH_TOKEN`, Slack `invalid_refresh_token`.
    pub revoked_errors: Vec<String>,
}

impl OAuth2Settings {
    /// Settings with the defaults of CONTRACT §2 (`refresh_before = 60s..180s`, body auth).
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        token_url: impl Into<String>,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: SecretString::from(client_secret.into()),
            token_url: token_url.into(),
            authorize_url: None,
            scopes: Vec::new(),
            refresh_before: [Duration::from_secs(60), Duration::from_secs(180)],
            token_auth: TokenAuth::Body,
            revoked_errors: Vec::new(),
        }
    }

    /// Whether `code` (an OAuth `error` or a provider's variant) means the grant is dead.
    pub fn is_revocation(&self, code: &str) -> bool {
        code == "invalid_grant" || self.revoked_errors.iter().any(|c| c == code)
    }
}

/// How one connector's stored credentials are injected.
#[derive(Clone, Debug)]
pub enum ConnectorAuth {
    /// Bearer access token, refreshed with the refresh token.
    OAuth2(OAuth2Settings),
    /// A static key in a header (default `Authorization: Bearer`) or a query parameter.
    ApiKey {
        /// Header name; `None` and no `query`: `Authorization`.
        header: Option<String>,
        /// Query parameter name.
        query: Option<String>,
        /// Text before the key in the header (`Authorization` defaults to `"Bearer "`).
        prefix: Option<String>,
    },
    /// HTTP Basic with a stored username and password.
    Basic,
    /// Nothing stored, nothing injected.
    None,
}

impl ConnectorAuth {
    /// The config `type` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            ConnectorAuth::OAuth2(_) => "oauth2",
            ConnectorAuth::ApiKey { .. } => "api_key",
            ConnectorAuth::Basic => "basic",
            ConnectorAuth::None => "none",
        }
    }
}

/// Tuning of the vault. Defaults are safe for production.
#[derive(Clone, Debug)]
pub struct VaultOptions {
    /// Prefix of lock keys (Redis), so tests and tenants can share a server.
    pub lock_prefix: String,
    /// Timeout of one token-endpoint call.
    pub token_timeout: Duration,
    /// Attempts per refresh for retryable failures (5xx, 429, network), with backoff.
    pub token_attempts: usize,
    /// The request path refreshes a token that expires within this buffer.
    pub expiry_buffer: Duration,
    /// How long a decrypted credential without expiry (api key, basic) is trusted from the
    /// in-memory cache before the store is re-read (another process may have replaced it).
    pub cache_ttl: Duration,
    /// How long a `needs_reauth` answer is cached before the store is re-read.
    pub negative_cache_ttl: Duration,
    /// Lifetime of a pending connect flow (`state`).
    pub connect_state_ttl: Duration,
    /// How often the proactive refresher scans the store (jittered ±20%).
    pub refresher_interval: Duration,
    /// Overrides the computed refresh-lock TTL (see [`VaultOptions::lock_ttl`]). Tests use a
    /// short one to simulate a holder outliving its lock.
    pub lock_ttl_override: Option<Duration>,
}

impl Default for VaultOptions {
    fn default() -> Self {
        Self {
            lock_prefix: "tidegate:refresh-lock:".to_owned(),
            token_timeout: Duration::from_secs(10),
            token_attempts: 3,
            expiry_buffer: Duration::from_secs(30),
            cache_ttl: Duration::from_secs(300),
            negative_cache_ttl: Duration::from_secs(5),
            connect_state_ttl: Duration::from_secs(600),
            refresher_interval: Duration::from_secs(10),
            lock_ttl_override: None,
        }
    }
}

impl VaultOptions {
    /// The lock TTL: longer than the worst-case refresh (all attempts timing out plus
    /// backoff), so a healthy holder never loses its lock mid-refresh.
    pub fn lock_ttl(&self) -> Duration {
        if let Some(ttl) = self.lock_ttl_override {
            return ttl;
        }
        self.token_timeout * u32::try_from(self.token_attempts.max(1)).unwrap_or(u32::MAX)
            + Duration::from_secs(10)
    }
}
