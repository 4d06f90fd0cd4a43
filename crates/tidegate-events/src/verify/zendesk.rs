//! Zendesk: `X-Zendesk-Webhook-Signature: <base64 HMAC-SHA256 of timestamp + raw body>` (no
//! separator) with `X-Zendesk-Webhook-Signature-Timestamp`. Zendesk documents no replay window;
//! the connector's `webhooks.tolerance` applies to the timestamp (an RFC 3339 string in
//! Zendesk's deliveries; Unix seconds are accepted too).

use std::time::{Duration, SystemTime};

use http::{HeaderMap, Method, Uri};

use super::crypto::{any_secret_matches, decode_b64, header_str, hmac_sha256};
use super::{Scheme, SignatureError, Verified, Verifier, WebhookSecret, check_window};

/// The Zendesk verifier.
#[derive(Debug)]
pub(crate) struct Zendesk {
    secrets: Vec<WebhookSecret>,
    tolerance: Duration,
}

impl Zendesk {
    pub(crate) fn new(secrets: Vec<WebhookSecret>, tolerance: Duration) -> Self {
        Self { secrets, tolerance }
    }
}

const SIG: &str = "x-zendesk-webhook-signature";
const TS: &str = "x-zendesk-webhook-signature-timestamp";

fn parse_ts(ts: &str) -> Result<i64, SignatureError> {
    if let Ok(secs) = ts.parse::<i64>() {
        return Ok(secs);
    }
    time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| SignatureError::Malformed(TS))
}

impl Verifier for Zendesk {
    fn scheme(&self) -> Scheme {
        Scheme::Zendesk
    }

    fn verify(
        &self,
        _method: &Method,
        _uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Verified, SignatureError> {
        let given = decode_b64(header_str(headers, SIG)?, SIG)?;
        let ts = header_str(headers, TS)?;
        check_window(parse_ts(ts)?, now, self.tolerance)?;
        any_secret_matches(&self.secrets, &given, |s| {
            hmac_sha256(s.as_bytes(), &[ts.as_bytes(), body]).to_vec()
        })?;
        Ok(Verified::default())
    }
}
