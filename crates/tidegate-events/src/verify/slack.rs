//! Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{ts}:{body}">` with
//! `X-Slack-Request-Timestamp`; Slack tells receivers to reject timestamps more than five
//! minutes from now, so the window is fixed at 300 s.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, Method, Uri};

use super::crypto::{any_secret_matches, decode_hex, header_str, hmac_sha256};
use super::{Scheme, SignatureError, Verified, Verifier, WebhookSecret, check_window};

/// The Slack verifier.
#[derive(Debug)]
pub(crate) struct Slack {
    secrets: Vec<WebhookSecret>,
    tolerance: Duration,
}

impl Slack {
    pub(crate) fn new(secrets: Vec<WebhookSecret>, tolerance: Duration) -> Self {
        Self { secrets, tolerance }
    }
}

const SIG: &str = "x-slack-signature";
const TS: &str = "x-slack-request-timestamp";

impl Verifier for Slack {
    fn scheme(&self) -> Scheme {
        Scheme::Slack
    }

    fn verify(
        &self,
        _method: &Method,
        _uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Verified, SignatureError> {
        let sig = header_str(headers, SIG)?;
        let ts_str = header_str(headers, TS)?;
        let ts: i64 = ts_str.parse().map_err(|_| SignatureError::Malformed(TS))?;
        check_window(ts, now, self.tolerance)?;
        let given = decode_hex(
            sig.strip_prefix("v0=")
                .ok_or(SignatureError::Malformed(SIG))?,
            SIG,
        )?;
        any_secret_matches(&self.secrets, &given, |s| {
            hmac_sha256(s.as_bytes(), &[b"v0:", ts_str.as_bytes(), b":", body]).to_vec()
        })?;
        Ok(Verified::default())
    }
}
