//! Standard Webhooks signing of outbound events: `webhook-signature: v1,<base64>` over
//! `{id}.{timestamp}.{body}`, one entry per configured secret (space-separated) so receivers can
//! rotate secrets without downtime.

use aws_lc_rs::{digest, hmac};
use base64::{Engine, engine::general_purpose::STANDARD as B64};
use zeroize::Zeroizing;

use crate::verify::decode_standard_secret;

/// A Standard Webhooks secret that is not `whsec_` + base64.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("webhook secret #{index} is not a Standard Webhooks secret (whsec_ + base64)")]
pub struct BadSecret {
    /// Position in the configured list (0 = `webhook_secret`).
    pub index: usize,
}

/// Signs event bodies with one or more secrets. `Debug` shows only key ids.
#[derive(Clone)]
pub struct Signer {
    keys: Vec<(hmac::Key, String)>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_ids", &self.key_ids())
            .finish()
    }
}

impl Signer {
    /// From `whsec_...` secrets (first = current). Errors name the index, never the value.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Result<Self, BadSecret> {
        let mut keys = Vec::new();
        for (index, s) in secrets.into_iter().enumerate() {
            let bytes: Zeroizing<Vec<u8>> = decode_standard_secret(s)
                .filter(|b| !b.is_empty())
                .ok_or(BadSecret { index })?;
            let id = key_id(&bytes);
            keys.push((hmac::Key::new(hmac::HMAC_SHA256, &bytes), id));
        }
        if keys.is_empty() {
            return Err(BadSecret { index: 0 });
        }
        Ok(Self { keys })
    }

    /// Short public fingerprints of the keys (first 8 hex chars of SHA-256 of the key bytes),
    /// for logs: which secret signed, never the secret.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|(_, id)| id.as_str()).collect()
    }

    /// The `webhook-signature` header value for one attempt.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let ts = timestamp.to_string();
        let mut out = String::with_capacity(48 * self.keys.len());
        for (key, _) in &self.keys {
            let mut ctx = hmac::Context::with_key(key);
            ctx.update(msg_id.as_bytes());
            ctx.update(b".");
            ctx.update(ts.as_bytes());
            ctx.update(b".");
            ctx.update(body);
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str("v1,");
            out.push_str(&B64.encode(ctx.sign().as_ref()));
        }
        out
    }
}

fn key_id(bytes: &[u8]) -> String {
    hex::encode(&digest::digest(&digest::SHA256, bytes).as_ref()[..4])
}

/// A fresh random Standard Webhooks secret (`whsec_` + base64 of 32 random bytes).
pub fn generate_secret() -> String {
    let mut b = Zeroizing::new([0u8; 32]);
    tidegate_crypto::fill_random(&mut b[..]);
    format!("whsec_{}", B64.encode(&b[..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_vectors() {
        let s = Signer::new(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]).unwrap();
        assert_eq!(
            s.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        let s = Signer::new(["whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"]).unwrap();
        assert_eq!(
            s.sign(
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1649367553,
                br#"{"email":"test@example.com","username":"test_user"}"#
            ),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn rotation_emits_one_signature_per_secret() {
        let s = Signer::new([
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        ])
        .unwrap();
        let sig = s.sign("msg_1", 1, b"{}");
        assert_eq!(sig.split(' ').count(), 2);
        assert!(sig.split(' ').all(|p| p.starts_with("v1,")));
        assert!(!format!("{s:?}").contains("MfKQ"));
    }

    #[test]
    fn bad_secret_names_index_only() {
        let e = Signer::new([
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_!!notbase64",
        ])
        .unwrap_err();
        assert_eq!(e, BadSecret { index: 1 });
        assert!(!e.to_string().contains("notbase64"));
    }

    #[test]
    fn generated_secret_round_trips() {
        let s = generate_secret();
        assert!(s.starts_with("whsec_"));
        Signer::new([s.as_str()]).unwrap();
    }
}
