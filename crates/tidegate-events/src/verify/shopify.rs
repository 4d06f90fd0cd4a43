//! Shopify: `X-Shopify-Hmac-SHA256: <base64 HMAC-SHA256 of the raw body>`, keyed by the app's client secret. No timestamp; dedup on `X-Shopify-Webhook-Id`.

use std::time::SystemTime;

use http::{HeaderMap, Method, Uri};

use super::crypto::{any_secret_matches, decode_b64, header_hint, header_str, hmac_sha256};
use super::{Scheme, SignatureError, Verified, Verifier, WebhookSecret};

/// The Shopify verifier.
#[derive(Debug)]
pub(crate) struct Shopify {
    secrets: Vec<WebhookSecret>,
}

impl Shopify {
    pub(crate) fn new(secrets: Vec<WebhookSecret>) -> Self {
        Self { secrets }
    }
}

impl Verifier for Shopify {
    fn scheme(&self) -> Scheme {
        Scheme::Shopify
    }

    fn verify(
        &self,
        _method: &Method,
        _uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        _now: SystemTime,
    ) -> Result<Verified, SignatureError> {
        let given = decode_b64(
            header_str(headers, "x-shopify-hmac-sha256")?,
            "x-shopify-hmac-sha256",
        )?;
        any_secret_matches(&self.secrets, &given, |s| {
            hmac_sha256(s.as_bytes(), &[body]).to_vec()
        })?;
        Ok(Verified {
            event_id: header_hint(headers, "x-shopify-webhook-id"),
        })
    }
}
