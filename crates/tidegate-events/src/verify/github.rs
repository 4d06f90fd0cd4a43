//! GitHub: `X-Hub-Signature-256: sha256=<lowercase hex HMAC-SHA256 of the raw body>`.
//! No timestamp; replays are caught by dedup on `X-GitHub-Delivery`.

use std::time::SystemTime;

use http::{HeaderMap, Method, Uri};

use super::crypto::{any_secret_matches, decode_hex, header_hint, header_str, hmac_sha256};
use super::{Scheme, SignatureError, Verified, Verifier, WebhookSecret};

/// The GitHub verifier.
#[derive(Debug)]
pub(crate) struct Github {
    secrets: Vec<WebhookSecret>,
}

impl Github {
    pub(crate) fn new(secrets: Vec<WebhookSecret>) -> Self {
        Self { secrets }
    }
}

/// Verifies a `sha256=<hex>` header over the body: shared by GitHub and Jira.
pub(crate) fn verify_sha256_prefixed(
    secrets: &[WebhookSecret],
    headers: &HeaderMap,
    header: &'static str,
    body: &[u8],
) -> Result<(), SignatureError> {
    let value = header_str(headers, header)?;
    let hex_sig = value
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed(header))?;
    let given = decode_hex(hex_sig, header)?;
    any_secret_matches(secrets, &given, |s| {
        hmac_sha256(s.as_bytes(), &[body]).to_vec()
    })
}

impl Verifier for Github {
    fn scheme(&self) -> Scheme {
        Scheme::Github
    }

    fn verify(
        &self,
        _method: &Method,
        _uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        _now: SystemTime,
    ) -> Result<Verified, SignatureError> {
        verify_sha256_prefixed(&self.secrets, headers, "x-hub-signature-256", body)?;
        Ok(Verified {
            event_id: header_hint(headers, "x-github-delivery"),
        })
    }
}
