//! The effective configuration of CONTRACT §2: what every other crate reads after the loader
//! has interpolated `${VAR}`s, merged presets, applied defaults, resolved relative paths and
//! validated everything.
//!
//! Each section is its own type with `deny_unknown_fields`, so a typo is an error rather than a
//! silently ignored setting. Durations are plain [`std::time::Duration`]s and sizes
//! [`ByteSize`]s; every secret is a [`SecretString`], so `{:?}` of a whole [`Config`] never
//! shows one.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

pub use crate::connector::*;
use crate::units::{self, ByteSize};

/// The whole effective configuration. Build it with [`Config::load`] or [`Config::from_str`].
#[derive(Clone, Debug)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub locks: LocksConfig,
    pub keys: KeysConfig,
    pub claim_check: ClaimCheckConfig,
    pub logging: LoggingConfig,
    pub events: EventsConfig,
    pub audit: AuditConfig,
    /// Callers of the gateway, keyed by environment id (`production`, `staging`, ...).
    pub environments: BTreeMap<String, EnvironmentConfig>,
    /// Upstream providers, keyed by connector name (the `{connector}` of `/proxy/{connector}/`).
    pub connectors: BTreeMap<String, ConnectorConfig>,
    /// The file this config was read from, when it came from a file.
    pub source_path: Option<PathBuf>,
}

/// `[server]`: the gateway's listener and its admin surface.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Bearer key for `/admin/*`. Without it the admin API answers 401 to everyone.
    #[serde(default)]
    pub admin_key: Option<SecretString>,
    #[serde(default = "default_max_request_body")]
    pub max_request_body: ByteSize,
    /// Base of absolute URLs the gateway hands out (claim checks, OAuth callback).
    /// `None`: `http://{listen}`.
    #[serde(default)]
    pub public_url: Option<String>,
    /// How long `serve` waits for in-flight requests after SIGINT/SIGTERM.
    #[serde(default = "default_shutdown_grace", with = "units::duration")]
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            admin_key: None,
            max_request_body: default_max_request_body(),
            public_url: None,
            shutdown_grace: default_shutdown_grace(),
        }
    }
}

impl ServerConfig {
    /// `public_url` without a trailing slash, or `http://{listen}` when unset.
    pub fn public_base_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }
}

/// `[storage]`: where credentials, account state and the reconciliation ledger live.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `sqlite://PATH` (relative paths resolved against the config's directory), `sqlite::memory:`
    /// or `postgres://...`.
    #[serde(default = "default_storage_url")]
    pub url: String,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            url: default_storage_url(),
        }
    }
}

/// `[locks]`: the per-account refresh mutex.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocksConfig {
    /// `local` (in-process) or `redis://host:port[/db]`.
    #[serde(default = "default_locks_url")]
    pub url: String,
}

impl Default for LocksConfig {
    fn default() -> Self {
        Self {
            url: default_locks_url(),
        }
    }
}

/// Where the master key (key-encryption key) comes from.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KeyProvider {
    /// A 32-byte key file written by `tidegate keys init` (mode 0600).
    File,
    /// An environment variable holding the key (base64 or hex).
    Env,
}

/// `[keys]`: the master key. Never stored in the database.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    #[serde(default = "default_key_provider")]
    pub provider: KeyProvider,
    /// Key file for `provider = "file"`; defaults to `./tidegate-data/master.key` (resolved
    /// against the config's directory). `None` for other providers.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Variable name for `provider = "env"`; defaults to `TIDEGATE_MASTER_KEY`. `None` for other
    /// providers.
    #[serde(default)]
    pub env: Option<String>,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            provider: KeyProvider::File,
            path: Some(PathBuf::from(DEFAULT_KEY_PATH)),
            env: None,
        }
    }
}

/// `[claim_check]`: the store for webhook payloads too large to carry inline in an event.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimCheckConfig {
    /// `file://DIR` (relative resolved against the config's directory), `memory://` or
    /// `s3://bucket/prefix`.
    #[serde(default = "default_claim_url")]
    pub url: String,
    #[serde(default = "default_inline_limit")]
    pub inline_limit: ByteSize,
    #[serde(default = "default_claim_ttl", with = "units::duration")]
    pub ttl: Duration,
}

impl Default for ClaimCheckConfig {
    fn default() -> Self {
        Self {
            url: default_claim_url(),
            inline_limit: default_inline_limit(),
            ttl: default_claim_ttl(),
        }
    }
}

/// `[logging]`: the boundary log of CONTRACT §6.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    /// `None`: stdout.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Boundary logs older than this are deleted (default 30 days). `retention = "forever"`
    /// gives `None`: nothing is deleted (the audit flags it).
    #[serde(
        default = "default_retention",
        deserialize_with = "units_extra::retention"
    )]
    pub retention: Option<Duration>,
    /// Share (0..=1) of exchanges whose (redacted) bodies are logged.
    #[serde(default)]
    pub body_sample_rate: f64,
    /// Header names (case-insensitive) whose values are replaced by `[REDACTED]`.
    #[serde(default = "default_redact_headers")]
    pub redact_headers: Vec<String>,
    /// JSON keys (any depth) whose values are redacted in logged bodies.
    #[serde(default = "default_redact_fields")]
    pub redact_fields: Vec<String>,
    /// An OTLP/HTTP traces endpoint (e.g. `http://127.0.0.1:4318/v1/traces`) the `tidegate`
    /// binary exports spans to; `None`: no export. Export needs a build with the `otel` cargo
    /// feature; without it a configured endpoint is a startup warning, not an error, so one
    /// config serves both builds.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            file: None,
            retention: default_retention(),
            body_sample_rate: 0.0,
            redact_headers: default_redact_headers(),
            redact_fields: default_redact_fields(),
            otlp_endpoint: None,
        }
    }
}

/// `[events]`: delivery of events to environments' `webhook_url`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// Delay before each attempt (the first is usually `0s`), jittered ±20%.
    #[serde(default = "default_retry_schedule", with = "units::duration_vec")]
    pub retry_schedule: Vec<Duration>,
    #[serde(default = "default_delivery_timeout", with = "units::duration")]
    pub delivery_timeout: Duration,
    /// How long a dead-lettered event is kept after its last attempt. Over 24h is allowed but
    /// flagged by the audit.
    #[serde(default = "default_dead_letter_ttl", with = "units::duration")]
    pub dead_letter_ttl: Duration,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            retry_schedule: default_retry_schedule(),
            delivery_timeout: default_delivery_timeout(),
            dead_letter_ttl: default_dead_letter_ttl(),
        }
    }
}

/// `[audit]`: inputs to the audit runbook that the config cannot otherwise know.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Availability the integration must reach, in percent (`99.9` or `"99.9%"`).
    #[serde(default, deserialize_with = "units_extra::opt_percent")]
    pub target_availability: Option<f64>,
    /// Number of gateway instances (to judge whether local locks suffice).
    #[serde(default)]
    pub instances: Option<u32>,
    /// (added by tidegate-audit) Groups of connectors a product feature depends on, for the
    /// composite availability: `[audit.features] onboarding = ["hubspot", "salesforce"]`.
    /// Empty: all connectors together form one group.
    #[serde(default)]
    pub features: BTreeMap<String, Vec<String>>,
    /// (added by tidegate-audit) The rotation policy for long-lived credentials (`api_key`,
    /// `basic`): they are replaced at least this often. Unset while OAuth connectors exist
    /// beside long-lived ones is an audit finding.
    #[serde(default, with = "units::opt_duration")]
    pub credential_rotation: Option<Duration>,
}

/// `[environments.NAME]`: one caller of the gateway.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentConfig {
    /// Keys callers send as `Authorization: Bearer <key>`; the key identifies the environment.
    #[serde(default)]
    pub api_keys: Vec<SecretString>,
    /// Where events for this environment are delivered.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// Standard Webhooks signing secret (`whsec_...`).
    #[serde(default)]
    pub webhook_secret: Option<SecretString>,
    /// Additional signing secrets during a rotation: events are signed with every one of them.
    #[serde(default)]
    pub webhook_secrets: Vec<SecretString>,
}

impl EnvironmentConfig {
    /// All signing secrets, `webhook_secret` first.
    pub fn signing_secrets(&self) -> impl Iterator<Item = &SecretString> {
        self.webhook_secret
            .iter()
            .chain(self.webhook_secrets.iter())
    }
}

pub(crate) const DEFAULT_STORAGE_URL: &str = "sqlite://./tidegate-data/tidegate.db";
pub(crate) const DEFAULT_KEY_PATH: &str = "./tidegate-data/master.key";
pub(crate) const DEFAULT_KEY_ENV: &str = "TIDEGATE_MASTER_KEY";
pub(crate) const DEFAULT_CLAIM_URL: &str = "file://./tidegate-data/claims";

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 4000))
}
fn default_max_request_body() -> ByteSize {
    ByteSize::mib(10)
}
fn default_shutdown_grace() -> Duration {
    Duration::from_secs(30)
}
fn default_storage_url() -> String {
    DEFAULT_STORAGE_URL.to_owned()
}
fn default_locks_url() -> String {
    "local".to_owned()
}
fn default_key_provider() -> KeyProvider {
    KeyProvider::File
}
fn default_claim_url() -> String {
    DEFAULT_CLAIM_URL.to_owned()
}
fn default_inline_limit() -> ByteSize {
    ByteSize::kib(256)
}
fn default_claim_ttl() -> Duration {
    Duration::from_secs(15 * 60)
}
fn default_retention() -> Option<Duration> {
    Some(Duration::from_secs(30 * 86_400))
}
fn default_redact_headers() -> Vec<String> {
    tidegate_core::defaults::DEFAULT_REDACT_HEADERS
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}
fn default_redact_fields() -> Vec<String> {
    tidegate_core::defaults::DEFAULT_REDACT_FIELDS
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}
fn default_retry_schedule() -> Vec<Duration> {
    [0, 5, 30, 120, 300, 900, 1800]
        .map(Duration::from_secs)
        .to_vec()
}
fn default_delivery_timeout() -> Duration {
    Duration::from_secs(15)
}
fn default_dead_letter_ttl() -> Duration {
    Duration::from_secs(3600)
}

/// Deserializers for percentages and fractions, which users write either as numbers or as
/// `"NN%"` strings.
pub(crate) mod units_extra {
    use serde::de::{self, Deserializer, Visitor};
    use std::fmt;

    struct PercentVisitor {
        /// `true`: the result is a fraction (0..=1) and bare numbers are taken as fractions;
        /// `false`: the result is a percentage and bare numbers are percentages.
        fraction: bool,
    }

    impl Visitor<'_> for PercentVisitor {
        type Value = f64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            if self.fraction {
                f.write_str("a fraction between 0 and 1, or a percentage string such as \"50%\"")
            } else {
                f.write_str("a percentage such as 99.9 or \"99.9%\"")
            }
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
            let number = v.trim().strip_suffix('%').ok_or_else(|| {
                E::custom(format!(
                    "invalid percentage {v:?}: expected a number followed by %"
                ))
            })?;
            let pct: f64 = number.trim().parse().map_err(|_| {
                E::custom(format!(
                    "invalid percentage {v:?}: expected a number followed by %"
                ))
            })?;
            Ok(if self.fraction { pct / 100.0 } else { pct })
        }
    }

    /// A fraction in 0..=1, written `0.5` or `"50%"`.
    pub fn opt_fraction<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        d.deserialize_any(PercentVisitor { fraction: true })
            .map(Some)
    }

    /// A duration, or `"forever"` for `None`.
    pub fn retention<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<std::time::Duration>, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Option<std::time::Duration>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"30d\", or \"forever\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                if v.trim() == "forever" {
                    return Ok(None);
                }
                crate::units::parse_duration(v)
                    .map(Some)
                    .map_err(|e| E::custom(format!("{e} (or \"forever\")")))
            }
        }
        d.deserialize_any(V)
    }

    /// A percentage, written `99.9` or `"99.9%"`.
    pub fn opt_percent<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        d.deserialize_any(PercentVisitor { fraction: false })
            .map(Some)
    }
}
