//! QuickBooks Online: `intuit-signature: <base64 HMAC-SHA256 of the raw body>`, keyed by the app's verifier token. No timestamp.

use std::time::SystemTime;

use http::{HeaderMap, Method, Uri};

use super::crypto::{any_secret_matches, decode_b64, header_str, hmac_sha256};
use super::{Scheme, SignatureError, Verified, Verifier, WebhookSecret};

/// The QuickBooks verifier.
#[derive(Debug)]
pub(crate) struct QuickBooks {
    secrets: Vec<WebhookSecret>,
}

impl QuickBooks {
    pub(crate) fn new(secrets: Vec<WebhookSecret>) -> Self {
        Self { secrets }
    }
}

impl Verifier for QuickBooks {
    fn scheme(&self) -> Scheme {
        Scheme::QuickBooks
    }

    fn verify(
        &self,
        _method: &Method,
        _uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        _now: SystemTime,
    ) -> Result<Verified, SignatureError> {
        let given = decode_b64(header_str(headers, "intuit-signature")?, "intuit-signature")?;
        any_secret_matches(&self.secrets, &given, |s| {
            hmac_sha256(s.as_bytes(), &[body]).to_vec()
        })?;
        Ok(Verified { event_id: None })
    }
}
