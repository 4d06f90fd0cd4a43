//! Inbound webhook signature verification: one module per provider scheme, all behind the
//! [`Verifier`] trait, selected by [`Scheme`] (a preset's or the connector's `webhooks.verify`).
//!
//! Every verifier works on the raw body bytes exactly as received (never a re-serialized
//! JSON), compares in constant time, and — where the scheme signs a timestamp — rejects a
//! timestamp outside the tolerance in either direction. Secrets are held as [`WebhookSecret`]s
//! whose `Debug` never shows the value; several secrets may be configured during a rotation and
//! any one of them verifies.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use tidegate_events::verify::{Scheme, WebhookSecret, verifier_for};
//!
//! let v = verifier_for(Scheme::Github, vec![WebhookSecret::new("It's a Secret to Everybody")],
//!                      Duration::from_secs(300));
//! let mut headers = http::HeaderMap::new();
//! headers.insert("x-hub-signature-256",
//!     "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17".parse().unwrap());
//! let ok = v.verify(&http::Method::POST, &"/webhooks/gh".parse().unwrap(), &headers,
//!                   b"Hello, World!", SystemTime::now());
//! assert!(ok.is_ok());
//! ```

mod crypto;
mod github;
mod hubspot;
mod intercom;
mod jira;
mod quickbooks;
mod shopify;
mod slack;
mod standard;
mod stripe;
mod xero;
mod zendesk;

use std::{fmt, str::FromStr, time::Duration, time::SystemTime};

use http::{HeaderMap, Method, Uri};
use secrecy::{ExposeSecret, SecretString};

pub use crypto::{constant_time_eq, header_str};
pub use standard::decode_standard_secret;

/// What a successful verification learned besides "the signature is good".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verified {
    /// The provider's delivery/event id when the scheme carries one in a header (Standard
    /// Webhooks `webhook-id`, `X-GitHub-Delivery`, `X-Shopify-Webhook-Id`, ...). Used for dedup
    /// when the connector has no `event_id` expression.
    pub event_id: Option<String>,
}

/// Why a webhook was rejected. The messages never contain a secret or the body.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A required header is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A header is present but not in the scheme's format.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The signed timestamp is outside the tolerance window.
    #[error("timestamp outside the {tolerance_s}s tolerance")]
    Stale {
        /// The tolerance in seconds.
        tolerance_s: u64,
    },
    /// No signature matched any configured secret.
    #[error("signature does not match")]
    Mismatch,
    /// The body exceeds the connector's `webhooks.max_body`.
    #[error("body of {size} bytes exceeds the {limit} byte limit")]
    BodyTooLarge {
        /// Received size.
        size: usize,
        /// Configured limit.
        limit: usize,
    },
    /// The connector has no usable secret configured for its scheme.
    #[error("no webhook secret configured")]
    NoSecret,
}

impl SignatureError {
    /// A short, stable label for metrics (`reason` label); never contains data.
    pub fn reason(&self) -> &'static str {
        match self {
            SignatureError::MissingHeader(_) => "missing_header",
            SignatureError::Malformed(_) => "malformed",
            SignatureError::Stale { .. } => "stale",
            SignatureError::Mismatch => "mismatch",
            SignatureError::BodyTooLarge { .. } => "too_large",
            SignatureError::NoSecret => "no_secret",
        }
    }
}

/// A provider webhook signing secret. `Debug` prints `WebhookSecret([REDACTED])`; the value is
/// zeroized on drop (via [`SecretString`]).
#[derive(Clone)]
pub struct WebhookSecret(SecretString);

impl WebhookSecret {
    /// Wraps a secret string exactly as the provider shows it (`whsec_...` included).
    pub fn new(secret: impl Into<String>) -> Self {
        Self(SecretString::from(secret.into()))
    }

    /// The secret's UTF-8 bytes (for schemes keyed by the string itself).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.expose_secret().as_bytes()
    }

    /// The secret string (for schemes that decode it, e.g. Standard Webhooks' base64).
    pub(crate) fn as_str(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret([REDACTED])")
    }
}

impl From<SecretString> for WebhookSecret {
    fn from(s: SecretString) -> Self {
        Self(s)
    }
}

/// A signature scheme, by its `webhooks.verify` name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// standardwebhooks.com: `webhook-id`/`webhook-timestamp`/`webhook-signature: v1,<b64>`.
    StandardWebhooks,
    /// `Stripe-Signature: t=..,v1=<hex>`, keyed by the whole `whsec_` string.
    Stripe,
    /// `X-Hub-Signature-256: sha256=<hex>` over the body.
    Github,
    /// `X-Shopify-Hmac-SHA256: <b64>` over the body.
    Shopify,
    /// `X-Slack-Signature: v0=<hex>` over `v0:{ts}:{body}`, 5-minute window.
    Slack,
    /// `X-HubSpot-Signature-v3`: b64 HMAC over method+URI+body+timestamp(ms), 5-minute window.
    HubspotV3,
    /// `X-HubSpot-Signature` v2: hex SHA-256 of secret+method+URI+body (not an HMAC).
    HubspotV2,
    /// `X-HubSpot-Signature` v1: hex SHA-256 of secret+body (not an HMAC).
    HubspotV1,
    /// `X-Zendesk-Webhook-Signature`: b64 HMAC over timestamp+body.
    Zendesk,
    /// `X-Hub-Signature: sha1=<hex>` (HMAC-SHA1) over the body.
    Intercom,
    /// `x-xero-signature: <b64>` over the body.
    Xero,
    /// Jira/Atlassian admin webhooks: `X-Hub-Signature: sha256=<hex>` over the body.
    Jira,
    /// QuickBooks Online: `intuit-signature: <b64>` over the body.
    QuickBooks,
}

impl Scheme {
    /// Every scheme, for docs and exhaustive tests.
    pub const ALL: [Scheme; 13] = [
        Scheme::StandardWebhooks,
        Scheme::Stripe,
        Scheme::Github,
        Scheme::Shopify,
        Scheme::Slack,
        Scheme::HubspotV3,
        Scheme::HubspotV2,
        Scheme::HubspotV1,
        Scheme::Zendesk,
        Scheme::Intercom,
        Scheme::Xero,
        Scheme::Jira,
        Scheme::QuickBooks,
    ];

    /// The config name (`webhooks.verify`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::StandardWebhooks => "standard-webhooks",
            Scheme::Stripe => "stripe",
            Scheme::Github => "github",
            Scheme::Shopify => "shopify",
            Scheme::Slack => "slack",
            Scheme::HubspotV3 => "hubspot-v3",
            Scheme::HubspotV2 => "hubspot-v2",
            Scheme::HubspotV1 => "hubspot-v1",
            Scheme::Zendesk => "zendesk",
            Scheme::Intercom => "intercom",
            Scheme::Xero => "xero",
            Scheme::Jira => "jira",
            Scheme::QuickBooks => "quickbooks",
        }
    }

    /// The scheme's own replay window when it documents one (Slack, HubSpot v3: 5 minutes).
    /// Otherwise the connector's `webhooks.tolerance` applies to timestamped schemes.
    pub const fn fixed_window(self) -> Option<Duration> {
        match self {
            Scheme::Slack | Scheme::HubspotV3 => Some(Duration::from_secs(300)),
            _ => None,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown `webhooks.verify` name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown webhook signature scheme {0:?}")]
pub struct UnknownScheme(pub String);

impl FromStr for Scheme {
    type Err = UnknownScheme;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Ok(match lower.as_str() {
            "standard-webhooks" | "standard_webhooks" | "standardwebhooks" | "svix" => {
                Scheme::StandardWebhooks
            }
            "stripe" => Scheme::Stripe,
            "github" => Scheme::Github,
            "shopify" => Scheme::Shopify,
            "slack" => Scheme::Slack,
            "hubspot-v3" | "hubspot" => Scheme::HubspotV3,
            "hubspot-v2" => Scheme::HubspotV2,
            "hubspot-v1" => Scheme::HubspotV1,
            "zendesk" => Scheme::Zendesk,
            "intercom" => Scheme::Intercom,
            "xero" => Scheme::Xero,
            "jira" | "atlassian" => Scheme::Jira,
            "quickbooks" | "intuit" => Scheme::QuickBooks,
            _ => return Err(UnknownScheme(s.to_owned())),
        })
    }
}

/// Verifies one provider's webhook signature.
pub trait Verifier: Send + Sync + fmt::Debug {
    /// Which scheme this is.
    fn scheme(&self) -> Scheme;

    /// Checks the signature of one delivery. `uri` is the URI the provider called (schemes that
    /// sign it — HubSpot v2/v3 — need the absolute public URL); `body` is the raw bytes.
    fn verify(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Verified, SignatureError>;
}

/// Builds the verifier for `scheme` with the configured secrets (all accepted, for rotation)
/// and timestamp tolerance (ignored by schemes with a fixed window or no timestamp).
pub fn verifier_for(
    scheme: Scheme,
    secrets: Vec<WebhookSecret>,
    tolerance: Duration,
) -> Box<dyn Verifier> {
    let tolerance = scheme.fixed_window().unwrap_or(tolerance);
    match scheme {
        Scheme::StandardWebhooks => Box::new(standard::StandardWebhooks::new(secrets, tolerance)),
        Scheme::Stripe => Box::new(stripe::Stripe::new(secrets, tolerance)),
        Scheme::Github => Box::new(github::Github::new(secrets)),
        Scheme::Shopify => Box::new(shopify::Shopify::new(secrets)),
        Scheme::Slack => Box::new(slack::Slack::new(secrets, tolerance)),
        Scheme::HubspotV3 => Box::new(hubspot::HubspotV3::new(secrets, tolerance)),
        Scheme::HubspotV2 => Box::new(hubspot::HubspotLegacy::v2(secrets)),
        Scheme::HubspotV1 => Box::new(hubspot::HubspotLegacy::v1(secrets)),
        Scheme::Zendesk => Box::new(zendesk::Zendesk::new(secrets, tolerance)),
        Scheme::Intercom => Box::new(intercom::Intercom::new(secrets)),
        Scheme::Xero => Box::new(xero::Xero::new(secrets)),
        Scheme::Jira => Box::new(jira::Jira::new(secrets)),
        Scheme::QuickBooks => Box::new(quickbooks::QuickBooks::new(secrets)),
    }
}

/// Seconds since the Unix epoch (negative before it).
pub(crate) fn unix_secs(now: SystemTime) -> i64 {
    match now.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// Rejects `ts` (Unix seconds) further than `tolerance` from `now`, in either direction.
pub(crate) fn check_window(
    ts: i64,
    now: SystemTime,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let skew = (unix_secs(now) - ts).unsigned_abs();
    if skew > tolerance.as_secs() {
        return Err(SignatureError::Stale {
            tolerance_s: tolerance.as_secs(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
