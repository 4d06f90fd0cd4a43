//! Intercom: `X-Hub-Signature: sha1=<hex HMAC-SHA1 of the raw body>`, keyed by the app's
//! client secret. SHA-1 is Intercom's choice, used here for verification only. No timestamp.

use std::time::SystemTime;

use http::{HeaderMap, Method, Uri};

use super::crypto::{any_secret_matches, decode_hex, header_str, hmac_sha1};
use super::{Scheme, SignatureError, Verified, Verifier, WebhookSecret};

/// The Intercom verifier.
#[derive(Debug)]
pub(crate) struct Intercom {
    secrets: Vec<WebhookSecret>,
}

impl Intercom {
    pub(crate) fn new(secrets: Vec<WebhookSecret>) -> Self {
        Self { secrets }
    }
}

impl Verifier for Intercom {
    fn scheme(&self) -> Scheme {
        Scheme::Intercom
    }

    fn verify(
        &self,
        _method: &Method,
        _uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        _now: SystemTime,
    ) -> Result<Verified, SignatureError> {
        const H: &str = "x-hub-signature";
        let value = header_str(headers, H)?;
        let hex_sig = value
            .strip_prefix("sha1=")
            .ok_or(SignatureError::Malformed(H))?;
        let given = decode_hex(hex_sig, H)?;
        any_secret_matches(&self.secrets, &given, |s| hmac_sha1(s.as_bytes(), body))?;
        Ok(Verified::default())
    }
}
