//! `[connectors.NAME]`: one upstream provider and the resilience policy of its stack.
//!
//! Everything except `base_url` is optional: a preset (see [`crate::presets`]) usually supplies
//! the provider facts (rate-limit headers, error expressions, webhook scheme), and the connector
//! table adds what only the operator knows (client id and secret, timeouts, breaker policy).

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::model::units_extra;
use crate::units::{self, ByteSize};

/// One upstream provider (after the preset, if any, was merged under it).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    /// The built-in preset this connector was based on.
    #[serde(default)]
    pub preset: Option<String>,
    /// Provider category (`crm`, `hris`, `payroll`, `ticketing`, `payments`, `devtools`, ...);
    /// the audit uses it (e.g. HRIS data demands stricter logging).
    #[serde(default)]
    pub category: Option<String>,
    /// Absolute `http(s)://` URL; `/proxy/{connector}/{path}` maps to `{base_url}/{path}`.
    pub base_url: String,
    /// Deadline for the whole call, retries included.
    #[serde(default = "default_timeout", with = "units::duration")]
    pub timeout: Duration,
    /// Deadline for one attempt (`None`: only the whole-call `timeout` applies).
    #[serde(default, with = "units::opt_duration")]
    pub attempt_timeout: Option<Duration>,
    /// Longest silence allowed while streaming a response body.
    #[serde(default = "default_body_idle_timeout", with = "units::opt_duration")]
    pub body_idle_timeout: Option<Duration>,
    /// Bulkhead: most requests in flight to this upstream at once (`None`: unbounded).
    #[serde(default)]
    pub concurrency: Option<u32>,
    /// How credentials are stored and injected. Default: `none`.
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub breaker: Option<BreakerConfig>,
    #[serde(default)]
    pub retry: Option<RetryConfig>,
    #[serde(default)]
    pub idempotency: Option<IdempotencyConfig>,
    #[serde(default)]
    pub rate_limit: Option<RateLimitConfig>,
    #[serde(default)]
    pub errors: Option<ErrorsConfig>,
    /// Upstream response header carrying the provider's request id (for logs and problems).
    #[serde(default)]
    pub request_id_header: Option<String>,
    #[serde(default)]
    pub sla: Option<SlaConfig>,
    #[serde(default)]
    pub webhooks: Option<WebhooksConfig>,
    #[serde(default)]
    pub reconcile: Option<ReconcileConfig>,
    #[serde(default)]
    pub logging: Option<ConnectorLoggingConfig>,
}

/// How the gateway authenticates to the upstream, tagged by `type`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuthConfig {
    /// OAuth 2.0 authorization-code grant with refresh tokens.
    #[serde(rename = "oauth2")]
    OAuth2(OAuth2Config),
    /// A static key per account, sent in a header or query parameter.
    ApiKey(ApiKeyConfig),
    /// HTTP Basic with a stored username/password per account.
    Basic,
    /// Nothing stored, nothing injected.
    #[default]
    None,
}

impl AuthConfig {
    /// The `type` as written in config: `oauth2`, `api_key`, `basic` or `none`.
    pub fn type_name(&self) -> &'static str {
        match self {
            AuthConfig::OAuth2(_) => "oauth2",
            AuthConfig::ApiKey(_) => "api_key",
            AuthConfig::Basic => "basic",
            AuthConfig::None => "none",
        }
    }

    /// The OAuth settings, if this connector uses OAuth.
    pub fn oauth2(&self) -> Option<&OAuth2Config> {
        match self {
            AuthConfig::OAuth2(o) => Some(o),
            _ => None,
        }
    }

    /// Whether accounts of this connector carry stored credentials.
    pub fn stores_credentials(&self) -> bool {
        !matches!(self, AuthConfig::None)
    }
}

/// `auth = { type = "oauth2", ... }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Config {
    pub client_id: String,
    pub client_secret: SecretString,
    pub token_url: String,
    /// Needed for `/connect/{connector}`; a connector without it can only receive tokens via
    /// the admin API.
    #[serde(default)]
    pub authorize_url: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Proactive refresh window before expiry `[min, max]`, uniformly jittered, so that many
    /// accounts do not refresh in the same second.
    #[serde(default = "default_refresh_before", with = "units::duration_pair")]
    pub refresh_before: [Duration; 2],
    /// How the client authenticates at the token endpoint: `"body"` (client_id/secret in the
    /// form) or `"basic"` (HTTP Basic). `None`: body.
    #[serde(default)]
    pub token_auth: Option<String>,
    /// Token-endpoint `error` values meaning the grant is dead (the account needs re-auth)
    /// rather than a transient failure. Always includes `invalid_grant` in effect.
    #[serde(default)]
    pub revoked_errors: Vec<String>,
}

/// `auth = { type = "api_key", ... }`. Neither `header` nor `query`: `Authorization: Bearer`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    #[serde(default)]
    pub header: Option<String>,
    #[serde(default)]
    pub query: Option<String>,
    /// Written before the key in the header, e.g. `"Bearer "` or `"Token token="`.
    #[serde(default)]
    pub prefix: Option<String>,
}

/// Whether one breaker guards the whole upstream or each account separately.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BreakerScope {
    #[default]
    Connector,
    Account,
}

/// The sliding window a failure rate is computed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowConfig {
    /// The last N calls (`window_calls = 100`).
    Calls(u32),
    /// The calls of the last period (`window = "60s"`).
    Time(Duration),
}

/// `breaker = { ... }`: circuit breaker for this upstream. Opens on `consecutive_failures`
/// and/or on a `failure_rate` (or `slow_call_rate`) over a window of at least `min_calls`.
/// 429s never count as failures.
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "RawBreakerConfig")]
pub struct BreakerConfig {
    pub scope: BreakerScope,
    pub consecutive_failures: Option<u32>,
    /// Fraction 0..=1 (written `0.5` or `"50%"`).
    pub failure_rate: Option<f64>,
    pub window: Option<WindowConfig>,
    pub min_calls: u32,
    pub slow_call_duration: Option<Duration>,
    /// Fraction 0..=1.
    pub slow_call_rate: Option<f64>,
    /// How long the breaker stays open before letting probes through.
    pub open_for: Duration,
    /// Upper bound when `open_for` grows on repeated openings (`None`: it does not grow).
    pub max_open_for: Option<Duration>,
    pub half_open_probes: u32,
    /// Statuses counted as failures (`None`: 5xx except 501, plus timeouts and connect errors).
    pub failure_statuses: Option<Vec<u16>>,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            scope: BreakerScope::Connector,
            consecutive_failures: None,
            failure_rate: None,
            window: None,
            min_calls: 20,
            slow_call_duration: None,
            slow_call_rate: None,
            open_for: Duration::from_secs(30),
            max_open_for: None,
            half_open_probes: 1,
            failure_statuses: None,
        }
    }
}

/// The breaker table as written; `window`/`window_calls` fold into [`WindowConfig`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBreakerConfig {
    #[serde(default)]
    scope: BreakerScope,
    #[serde(default)]
    consecutive_failures: Option<u32>,
    #[serde(default, deserialize_with = "units_extra::opt_fraction")]
    failure_rate: Option<f64>,
    #[serde(default)]
    window_calls: Option<u32>,
    #[serde(default, with = "units::opt_duration")]
    window: Option<Duration>,
    #[serde(default = "default_min_calls")]
    min_calls: u32,
    #[serde(default, with = "units::opt_duration")]
    slow_call_duration: Option<Duration>,
    #[serde(default, deserialize_with = "units_extra::opt_fraction")]
    slow_call_rate: Option<f64>,
    #[serde(default = "default_open_for", with = "units::duration")]
    open_for: Duration,
    #[serde(default, with = "units::opt_duration")]
    max_open_for: Option<Duration>,
    #[serde(default = "default_half_open_probes")]
    half_open_probes: u32,
    #[serde(default)]
    failure_statuses: Option<Vec<u16>>,
}

impl TryFrom<RawBreakerConfig> for BreakerConfig {
    type Error = String;
    fn try_from(raw: RawBreakerConfig) -> Result<Self, String> {
        let window = match (raw.window_calls, raw.window) {
            (Some(_), Some(_)) => {
                return Err(
                    "breaker: set either `window_calls` (count-based) or `window` \
                            (time-based), not both"
                        .to_owned(),
                );
            }
            (Some(n), None) => Some(WindowConfig::Calls(n)),
            (None, Some(d)) => Some(WindowConfig::Time(d)),
            (None, None) => None,
        };
        Ok(Self {
            scope: raw.scope,
            consecutive_failures: raw.consecutive_failures,
            failure_rate: raw.failure_rate,
            window,
            min_calls: raw.min_calls,
            slow_call_duration: raw.slow_call_duration,
            slow_call_rate: raw.slow_call_rate,
            open_for: raw.open_for,
            max_open_for: raw.max_open_for,
            half_open_probes: raw.half_open_probes,
            failure_statuses: raw.failure_statuses,
        })
    }
}

/// `retry = { ... }`: budgeted retries of safe failures. Never retries a 429.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts in total, the first included.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// What is retried: `connect`, `reset`, `timeout`, or a status (`"502"`, `"503"`, ...).
    #[serde(default = "default_retry_on")]
    pub on: Vec<String>,
    /// Retries may add at most this percentage on top of first attempts.
    #[serde(default = "default_budget_percent")]
    pub budget_percent: f64,
    #[serde(default = "default_backoff_base", with = "units::duration")]
    pub backoff_base: Duration,
    #[serde(default = "default_backoff_max", with = "units::duration")]
    pub backoff_max: Duration,
    /// Request bodies up to this size are kept for a replay; larger ones are not retried.
    #[serde(default = "default_max_replay_body")]
    pub max_replay_body: ByteSize,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: default_max_attempts(),
            on: default_retry_on(),
            budget_percent: default_budget_percent(),
            backoff_base: default_backoff_base(),
            backoff_max: default_backoff_max(),
            max_replay_body: default_max_replay_body(),
        }
    }
}

/// `idempotency = { ... }`: the provider's idempotency-key header.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdempotencyConfig {
    /// Header the caller's `Idempotency-Key` is forwarded as. `None`: the provider has no
    /// idempotency support (the key is not forwarded, and non-idempotent methods are never
    /// retried after the request was sent).
    #[serde(default)]
    pub header: Option<String>,
    #[serde(default = "default_idempotent_methods")]
    pub methods: Vec<String>,
}

/// `rate_limit = { ... }`: how to read the upstream's rate-limit headers, and optional local
/// pacing.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Header names carrying the limit, the remaining count and the reset.
    #[serde(default)]
    pub limit: Option<String>,
    #[serde(default)]
    pub remaining: Option<String>,
    #[serde(default)]
    pub reset: Option<String>,
    /// How `reset` is written: `seconds` (delta), `epoch_seconds`, `epoch_ms`, `window_ms`
    /// (the window length in ms), `iso8601` or `http_date`.
    #[serde(default)]
    pub reset_unit: Option<String>,
    /// A built-in parser for vendor formats that do not fit the triple (`salesforce`,
    /// `shopify`, `ietf`, ...).
    #[serde(default)]
    pub format: Option<String>,
    /// The limit's window when the upstream does not say (for `RateLimit-Policy`).
    #[serde(default, with = "units::opt_duration")]
    pub window: Option<Duration>,
    /// Local pacing, `"N/DURATION"`, e.g. `"100/10s"`.
    #[serde(default)]
    pub local: Option<String>,
    /// `connector` or `account`: what `local` pacing counts per.
    #[serde(default)]
    pub local_scope: Option<String>,
}

impl RateLimitConfig {
    /// `local` parsed into (requests, per period). `None` when unset; the loader has already
    /// rejected malformed values.
    pub fn local_quota(&self) -> Option<(u32, Duration)> {
        self.local.as_deref().and_then(|s| parse_quota(s).ok())
    }
}

/// Parses `"100/10s"` into `(100, 10s)`.
pub fn parse_quota(s: &str) -> Result<(u32, Duration), String> {
    let bad = || format!("invalid rate {s:?}: expected REQUESTS/DURATION, e.g. \"100/10s\"");
    let (n, per) = s.split_once('/').ok_or_else(bad)?;
    let n: u32 = n.trim().parse().map_err(|_| bad())?;
    let per = crate::units::parse_duration(per).map_err(|_| bad())?;
    if n == 0 || per.is_zero() {
        return Err(bad());
    }
    Ok((n, per))
}

/// `errors = { ... }`: JSONata expressions over the upstream error body (CONTRACT §4).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorsConfig {
    /// → `upstream.code`.
    #[serde(default)]
    pub code: Option<String>,
    /// → `detail` and `upstream.message`.
    #[serde(default)]
    pub message: Option<String>,
    /// Refines the class; must yield one of the CONTRACT §4 codes.
    #[serde(default)]
    pub class: Option<String>,
    /// Overrides whether the problem is retryable.
    #[serde(default)]
    pub retryable: Option<String>,
    /// Over a 2xx body: true means the response is really an error (Slack's `ok = false`).
    #[serde(default)]
    pub when: Option<String>,
    /// With `when`: the status to answer.
    #[serde(default)]
    pub status: Option<String>,
    /// Non-429 statuses that mean "rate limited" (Shopify's 430).
    #[serde(default)]
    pub rate_limited_statuses: Vec<u16>,
    /// Whether the (redacted) upstream body goes into `upstream.body`.
    #[serde(default = "default_true")]
    pub include_body: bool,
}

impl Default for ErrorsConfig {
    fn default() -> Self {
        Self {
            code: None,
            message: None,
            class: None,
            retryable: None,
            when: None,
            status: None,
            rate_limited_statuses: Vec::new(),
            include_body: true,
        }
    }
}

/// `sla = { ... }`: what the provider promises, for the audit's SLA table. Any value may be
/// `"unknown"`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaConfig {
    /// e.g. `"99.95%"`.
    #[serde(default)]
    pub uptime: Option<String>,
    #[serde(default)]
    pub rate_limit_model: Option<String>,
    #[serde(default)]
    pub webhook_delivery: Option<String>,
    #[serde(default)]
    pub breaking_change_notice: Option<String>,
    #[serde(default)]
    pub support_response: Option<String>,
}

impl SlaConfig {
    /// `uptime` as a percentage when it is a number like `"99.95%"`; `None` when unset or
    /// `"unknown"`.
    pub fn uptime_percent(&self) -> Option<f64> {
        let text = self.uptime.as_deref()?.trim();
        let n: f64 = text.strip_suffix('%')?.trim().parse().ok()?;
        (0.0..=100.0).contains(&n).then_some(n)
    }
}

/// `webhooks = { ... }`: inbound provider webhooks (CONTRACT §8).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Signature scheme: `standard-webhooks`, `hubspot-v3`, `github`, `stripe`, `zendesk`,
    /// `salesforce-org-id`, ... (`None`: webhooks are not accepted).
    #[serde(default)]
    pub verify: Option<String>,
    #[serde(default)]
    pub secret: Option<SecretString>,
    /// More secrets accepted during a rotation.
    #[serde(default)]
    pub secrets: Vec<SecretString>,
    /// Largest accepted age of a signed timestamp.
    #[serde(default, with = "units::opt_duration")]
    pub tolerance: Option<Duration>,
    /// JSONata expressions over the payload.
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub object: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub event_id: Option<String>,
    #[serde(default, with = "units::opt_duration")]
    pub dedup_window: Option<Duration>,
    #[serde(default)]
    pub max_body: Option<ByteSize>,
}

impl WebhooksConfig {
    /// All verification secrets, `secret` first.
    pub fn all_secrets(&self) -> impl Iterator<Item = &SecretString> {
        self.secret.iter().chain(self.secrets.iter())
    }
}

/// `reconcile = { ... }`: polling reconciliation (CONTRACT §8).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileConfig {
    pub object: String,
    pub request: ReconcileRequest,
    /// JSONata on the page body → array of records.
    pub records: String,
    /// JSONata on each record.
    pub id: String,
    /// JSONata on each record.
    pub version: String,
    /// JSONata on the page body; empty result = last page; `/...` or `http...` = follow as URL.
    /// `None`: single page.
    #[serde(default)]
    pub next_page: Option<String>,
    /// `rfc3339`, `unix` or `unix_ms`.
    #[serde(default = "default_since_format")]
    pub since_format: String,
    #[serde(default = "default_overlap", with = "units::duration")]
    pub overlap: Duration,
    #[serde(default = "default_initial_lookback", with = "units::duration")]
    pub initial_lookback: Duration,
    #[serde(default, with = "units::opt_duration")]
    pub every: Option<Duration>,
    #[serde(default)]
    pub cron: Option<String>,
    #[serde(default)]
    pub page_size: Option<u32>,
}

/// The page request of a reconciliation run; `{since}` and `{page}` are substituted in query
/// values (a parameter whose placeholder is empty is left out).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileRequest {
    #[serde(default = "default_get")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// JSON body template (a TOML table), sent as `application/json` (e.g. a search filter).
    /// String values may hold the same placeholders as `query`; a value that is exactly an
    /// empty placeholder drops its key, and `"{page_size}"` alone becomes a number.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
}

/// How bodies of this connector may appear in the boundary log.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BodyLogging {
    /// Sampled bodies, redacted (the default).
    Redacted,
    /// Only the keys listed in `fields`.
    Allowlist,
    /// Never.
    None,
}

/// `logging = { ... }` of a connector.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorLoggingConfig {
    #[serde(default)]
    pub body: Option<BodyLogging>,
    /// With `body = "allowlist"`: the JSON keys that may be logged.
    #[serde(default)]
    pub fields: Vec<String>,
    /// Marks the connector as carrying HR data (stricter audit expectations).
    #[serde(default)]
    pub hris: Option<bool>,
}

fn default_timeout() -> Duration {
    Duration::from_secs(15)
}
fn default_body_idle_timeout() -> Option<Duration> {
    Some(Duration::from_secs(30))
}
fn default_refresh_before() -> [Duration; 2] {
    [Duration::from_secs(60), Duration::from_secs(180)]
}
fn default_min_calls() -> u32 {
    20
}
fn default_open_for() -> Duration {
    Duration::from_secs(30)
}
fn default_half_open_probes() -> u32 {
    1
}
fn default_max_attempts() -> u32 {
    3
}
fn default_retry_on() -> Vec<String> {
    ["connect", "reset", "502", "503", "504"]
        .map(String::from)
        .to_vec()
}
fn default_budget_percent() -> f64 {
    20.0
}
fn default_backoff_base() -> Duration {
    Duration::from_millis(100)
}
fn default_backoff_max() -> Duration {
    Duration::from_secs(5)
}
fn default_max_replay_body() -> ByteSize {
    ByteSize::kib(64)
}
fn default_idempotent_methods() -> Vec<String> {
    ["POST", "PATCH"].map(String::from).to_vec()
}
fn default_true() -> bool {
    true
}
fn default_since_format() -> String {
    "rfc3339".to_owned()
}
fn default_overlap() -> Duration {
    Duration::from_secs(300)
}
fn default_initial_lookback() -> Duration {
    Duration::from_secs(86_400)
}
fn default_get() -> String {
    "GET".to_owned()
}
