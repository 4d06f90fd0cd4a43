//! The primitives every scheme shares: HMAC/SHA digests via aws-lc-rs, constant-time
//! comparison via `subtle`, header access and a secret-rotation loop.

use aws_lc_rs::{digest, hmac};
use base64::Engine;
use http::HeaderMap;
use subtle::ConstantTimeEq;

use super::{SignatureError, WebhookSecret};

/// Compares two byte strings in time independent of where they differ. Lengths are public.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// A header as `&str`: `MissingHeader` when absent, `Malformed` when not visible ASCII.
pub fn header_str<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
) -> Result<&'h str, SignatureError> {
    let v = headers
        .get(name)
        .ok_or(SignatureError::MissingHeader(name))?;
    let s = v
        .to_str()
        .map_err(|_| SignatureError::Malformed(name))?
        .trim();
    if s.is_empty() {
        return Err(SignatureError::MissingHeader(name));
    }
    Ok(s)
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    for p in parts {
        ctx.update(p);
    }
    let tag = ctx.sign();
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// HMAC-SHA1 (Intercom's legacy scheme only).
pub(crate) fn hmac_sha1(key: &[u8], body: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    hmac::sign(&key, body).as_ref().to_vec()
}

/// Plain SHA-256 over the concatenation of `parts` (HubSpot v1/v2 are not HMACs).
pub(crate) fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    ctx.finish().as_ref().to_vec()
}

/// Decodes lowercase or uppercase hex; `Malformed(what)` otherwise.
pub(crate) fn decode_hex(s: &str, what: &'static str) -> Result<Vec<u8>, SignatureError> {
    hex::decode(s).map_err(|_| SignatureError::Malformed(what))
}

/// Decodes standard base64 (padding optional); `Malformed(what)` otherwise.
pub(crate) fn decode_b64(s: &str, what: &'static str) -> Result<Vec<u8>, SignatureError> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine
        .decode(s)
        .map_err(|_| SignatureError::Malformed(what))
}

/// Accepts when `expected(secret)` equals `given` for any configured secret (rotation).
pub(crate) fn any_secret_matches(
    secrets: &[WebhookSecret],
    given: &[u8],
    expected: impl Fn(&WebhookSecret) -> Vec<u8>,
) -> Result<(), SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    // Evaluate every secret (no early exit) so timing does not reveal which one matched.
    let mut ok = false;
    for s in secrets {
        ok |= constant_time_eq(&expected(s), given);
    }
    if ok {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// An optional header as an owned string (event-id hints).
pub(crate) fn header_hint(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 256)
        .map(str::to_owned)
}
