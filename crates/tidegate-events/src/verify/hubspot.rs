//! HubSpot.
//!
//! - v3: `X-HubSpot-Signature-v3: <base64 HMAC-SHA256 of method + URI + body + timestamp>`
//!   keyed by the app's client secret, `X-HubSpot-Request-Timestamp` in epoch milliseconds,
//!   rejected when older than five minutes. The URI is the full URL HubSpot called (scheme, host,
//!   path, query), with the URL-encoded characters HubSpot lists decoded first; behind a gateway
//!   pass the absolute public URL.
//! - v1 / v2 (`X-HubSpot-Signature`, `X-HubSpot-Signature-Version`): a plain SHA-256 (not an
//!   HMAC) of `secret + body` (v1) or `secret + method + URI + body` (v2), lowercase hex.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, Method, Uri};

use super::crypto::{any_secret_matches, decode_b64, decode_hex, header_str, hmac_sha256, sha256};
use super::{Scheme, SignatureError, Verified, Verifier, WebhookSecret, unix_secs};

/// The HubSpot v3 verifier.
#[derive(Debug)]
pub(crate) struct HubspotV3 {
    secrets: Vec<WebhookSecret>,
    tolerance: Duration,
}

impl HubspotV3 {
    pub(crate) fn new(secrets: Vec<WebhookSecret>, tolerance: Duration) -> Self {
        Self { secrets, tolerance }
    }
}

/// Decodes the percent-escapes HubSpot's v3 docs list, leaving every other escape as sent.
pub(crate) fn hubspot_decode_uri(uri: &str) -> String {
    const MAP: [(&str, &str); 11] = [
        ("%3A", ":"),
        ("%2F", "/"),
        ("%3F", "?"),
        ("%40", "@"),
        ("%21", "!"),
        ("%24", "$"),
        ("%27", "'"),
        ("%28", "("),
        ("%29", ")"),
        ("%2A", "*"),
        ("%2C", ","),
    ];
    let mut out = uri.to_owned();
    for (from, to) in MAP {
        out = out
            .replace(from, to)
            .replace(&from.to_ascii_lowercase(), to);
    }
    out.replace("%3B", ";").replace("%3b", ";")
}

const V3: &str = "x-hubspot-signature-v3";
const TS: &str = "x-hubspot-request-timestamp";

impl Verifier for HubspotV3 {
    fn scheme(&self) -> Scheme {
        Scheme::HubspotV3
    }

    fn verify(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Verified, SignatureError> {
        let given = decode_b64(header_str(headers, V3)?, V3)?;
        let ts_str = header_str(headers, TS)?;
        let ts_ms: i64 = ts_str.parse().map_err(|_| SignatureError::Malformed(TS))?;
        let now_ms = unix_secs(now).saturating_mul(1000);
        if (now_ms - ts_ms).unsigned_abs() > self.tolerance.as_millis() as u64 {
            return Err(SignatureError::Stale {
                tolerance_s: self.tolerance.as_secs(),
            });
        }
        let uri = hubspot_decode_uri(&uri.to_string());
        any_secret_matches(&self.secrets, &given, |s| {
            hmac_sha256(
                s.as_bytes(),
                &[
                    method.as_str().as_bytes(),
                    uri.as_bytes(),
                    body,
                    ts_str.as_bytes(),
                ],
            )
            .to_vec()
        })?;
        Ok(Verified::default())
    }
}

/// HubSpot v1/v2 (SHA-256 of secret and content).
#[derive(Debug)]
pub(crate) struct HubspotLegacy {
    secrets: Vec<WebhookSecret>,
    v2: bool,
}

impl HubspotLegacy {
    pub(crate) fn v1(secrets: Vec<WebhookSecret>) -> Self {
        Self { secrets, v2: false }
    }

    pub(crate) fn v2(secrets: Vec<WebhookSecret>) -> Self {
        Self { secrets, v2: true }
    }
}

const LEGACY: &str = "x-hubspot-signature";

impl Verifier for HubspotLegacy {
    fn scheme(&self) -> Scheme {
        if self.v2 {
            Scheme::HubspotV2
        } else {
            Scheme::HubspotV1
        }
    }

    fn verify(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        _now: SystemTime,
    ) -> Result<Verified, SignatureError> {
        let given = decode_hex(header_str(headers, LEGACY)?, LEGACY)?;
        let uri = uri.to_string();
        any_secret_matches(&self.secrets, &given, |s| {
            if self.v2 {
                sha256(&[
                    s.as_bytes(),
                    method.as_str().as_bytes(),
                    uri.as_bytes(),
                    body,
                ])
            } else {
                sha256(&[s.as_bytes(), body])
            }
        })?;
        Ok(Verified::default())
    }
}
