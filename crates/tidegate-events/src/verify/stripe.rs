//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`, HMAC-SHA256 over
//! `{t}.{body}` keyed by the WHOLE `whsec_...` string as UTF-8 (unlike Standard Webhooks, it is
//! not base64-decoded). Several `v1` entries appear while a secret is rolled; `v0` (test-mode
//! legacy) entries are ignored. Tolerance 300 s by default, like Stripe's SDKs.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, Method, Uri};

use super::crypto::{constant_time_eq, header_str, hmac_sha256};
use super::{Scheme, SignatureError, Verified, Verifier, WebhookSecret, check_window};

/// The Stripe verifier.
#[derive(Debug)]
pub(crate) struct Stripe {
    secrets: Vec<WebhookSecret>,
    tolerance: Duration,
}

impl Stripe {
    pub(crate) fn new(secrets: Vec<WebhookSecret>, tolerance: Duration) -> Self {
        Self { secrets, tolerance }
    }
}

const H: &str = "stripe-signature";

impl Verifier for Stripe {
    fn scheme(&self) -> Scheme {
        Scheme::Stripe
    }

    fn verify(
        &self,
        _method: &Method,
        _uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Verified, SignatureError> {
        if self.secrets.is_empty() {
            return Err(SignatureError::NoSecret);
        }
        let value = header_str(headers, H)?;
        let mut ts: Option<&str> = None;
        let mut sigs: Vec<Vec<u8>> = Vec::new();
        for part in value.split(',') {
            let Some((k, v)) = part.trim().split_once('=') else {
                return Err(SignatureError::Malformed(H));
            };
            match k {
                "t" => ts = Some(v),
                "v1" => {
                    if let Ok(b) = hex::decode(v) {
                        sigs.push(b);
                    }
                }
                _ => {}
            }
        }
        let ts_str = ts.ok_or(SignatureError::Malformed(H))?;
        let t: i64 = ts_str.parse().map_err(|_| SignatureError::Malformed(H))?;
        if sigs.is_empty() {
            return Err(SignatureError::Malformed(H));
        }
        check_window(t, now, self.tolerance)?;
        let mut ok = false;
        for s in &self.secrets {
            let expected = hmac_sha256(s.as_bytes(), &[ts_str.as_bytes(), b".", body]);
            for given in &sigs {
                ok |= constant_time_eq(&expected, given);
            }
        }
        if !ok {
            return Err(SignatureError::Mismatch);
        }
        Ok(Verified::default())
    }
}
