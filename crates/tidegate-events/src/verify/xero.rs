//! Xero: `x-xero-signature: <base64 HMAC-SHA256 of the raw body>`, keyed by the app's webhook key. No timestamp; the "intent to receive" handshake is just a signed delivery that must get 200 (valid) or 401 (invalid).

use std::time::SystemTime;

use http::{HeaderMap, Method, Uri};

use super::crypto::{any_secret_matches, decode_b64, header_str, hmac_sha256};
use super::{Scheme, SignatureError, Verified, Verifier, WebhookSecret};

/// The Xero verifier.
#[derive(Debug)]
pub(crate) struct Xero {
    secrets: Vec<WebhookSecret>,
}

impl Xero {
    pub(crate) fn new(secrets: Vec<WebhookSecret>) -> Self {
        Self { secrets }
    }
}

impl Verifier for Xero {
    fn scheme(&self) -> Scheme {
        Scheme::Xero
    }

    fn verify(
        &self,
        _method: &Method,
        _uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        _now: SystemTime,
    ) -> Result<Verified, SignatureError> {
        let given = decode_b64(header_str(headers, "x-xero-signature")?, "x-xero-signature")?;
        any_secret_matches(&self.secrets, &given, |s| {
            hmac_sha256(s.as_bytes(), &[body]).to_vec()
        })?;
        Ok(Verified { event_id: None })
    }
}
