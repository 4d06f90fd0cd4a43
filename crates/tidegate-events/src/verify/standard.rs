//! Standard Webhooks (standardwebhooks.com), symmetric `v1`: HMAC-SHA256 over
//! `{webhook-id}.{webhook-timestamp}.{body}`, keyed by the base64-decoded bytes after `whsec_`;
//! `webhook-signature` is a space-separated list of `v1,<base64>` (any match verifies, which is
//! how senders rotate secrets). Timestamp within the tolerance (300 s in every reference library).

use std::time::{Duration, SystemTime};

use http::{HeaderMap, Method, Uri};
use zeroize::Zeroizing;

use super::crypto::{constant_time_eq, decode_b64, header_str, hmac_sha256};
use super::{Scheme, SignatureError, Verified, Verifier, WebhookSecret, check_window};

/// Decodes a Standard Webhooks secret: `whsec_` + base64, or bare base64 (as the reference
/// libraries accept). `None` when it is not base64.
pub fn decode_standard_secret(secret: &str) -> Option<Zeroizing<Vec<u8>>> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    decode_b64(b64, "secret").ok().map(Zeroizing::new)
}

/// The Standard Webhooks verifier.
#[derive(Debug)]
pub(crate) struct StandardWebhooks {
    keys: Vec<KeyBytes>,
    tolerance: Duration,
}

/// Decoded HMAC key bytes, zeroized on drop, never printed.
struct KeyBytes(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl StandardWebhooks {
    pub(crate) fn new(secrets: Vec<WebhookSecret>, tolerance: Duration) -> Self {
        let keys = secrets
            .iter()
            .filter_map(|s| decode_standard_secret(s.as_str()))
            .map(KeyBytes)
            .collect();
        Self { keys, tolerance }
    }
}

const ID: &str = "webhook-id";
const TS: &str = "webhook-timestamp";
const SIG: &str = "webhook-signature";

impl Verifier for StandardWebhooks {
    fn scheme(&self) -> Scheme {
        Scheme::StandardWebhooks
    }

    fn verify(
        &self,
        _method: &Method,
        _uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Verified, SignatureError> {
        if self.keys.is_empty() {
            return Err(SignatureError::NoSecret);
        }
        let id = header_str(headers, ID)?;
        let ts_str = header_str(headers, TS)?;
        let sigs = header_str(headers, SIG)?;
        let ts: i64 = ts_str.parse().map_err(|_| SignatureError::Malformed(TS))?;
        check_window(ts, now, self.tolerance)?;

        let expected: Vec<[u8; 32]> = self
            .keys
            .iter()
            .map(|k| hmac_sha256(&k.0, &[id.as_bytes(), b".", ts_str.as_bytes(), b".", body]))
            .collect();
        let mut ok = false;
        for entry in sigs.split(' ').filter(|e| !e.is_empty()) {
            let Some((version, b64)) = entry.split_once(',') else {
                continue;
            };
            if version != "v1" {
                continue; // e.g. v1a (asymmetric) entries are not ours to check
            }
            let Ok(given) = decode_b64(b64, SIG) else {
                continue;
            };
            for e in &expected {
                ok |= constant_time_eq(e, &given);
            }
        }
        if !ok {
            return Err(SignatureError::Mismatch);
        }
        Ok(Verified {
            event_id: Some(id.to_owned()),
        })
    }
}
