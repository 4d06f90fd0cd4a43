//! The wire format of a sealed value and the raw AES-256-GCM operations behind it.
//!
//! `version (1) | key id (8) | nonce (12) | ciphertext | tag (16)`. The 21-byte header is
//! prepended to the caller's AAD so that editing it fails authentication.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use zeroize::Zeroizing;

use crate::{CryptoError, KEY_LEN};

/// Version byte of the current format.
pub const VERSION_V1: u8 = 1;
/// Bytes of the key id in the header.
pub const KEY_ID_LEN: usize = 8;
/// Bytes of the AES-GCM nonce (96 bits, random per seal).
pub const NONCE_LEN: usize = 12;
/// Bytes of the AES-GCM tag.
pub const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;
/// Bytes a sealed value adds to its plaintext.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

fn aead_key(key: &[u8; KEY_LEN]) -> LessSafeKey {
    LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte key is valid for AES-256"),
    )
}

/// Header bytes followed by the caller's AAD: what the tag authenticates besides the plaintext.
fn full_aad(header: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(header.len() + aad.len());
    v.extend_from_slice(header);
    v.extend_from_slice(aad);
    v
}

/// Seals `plaintext` under `key` (whose id is `key_id`) with a fresh random nonce.
pub(crate) fn seal(
    key: &[u8; KEY_LEN],
    key_id: &[u8; KEY_ID_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    crate::fill_random(&mut nonce);
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.push(VERSION_V1);
    out.extend_from_slice(key_id);
    out.extend_from_slice(&nonce);
    let aad = full_aad(&out, aad);
    let mut body = Vec::with_capacity(plaintext.len() + TAG_LEN);
    body.extend_from_slice(plaintext);
    aead_key(key)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&aad[..]),
            &mut body,
        )
        .expect("AES-GCM sealing of an in-memory buffer cannot fail");
    out.extend_from_slice(&body);
    body.iter_mut().for_each(|b| *b = 0);
    out
}

/// Opens a value produced by [`seal`], checking version, key id and tag, in that order.
pub(crate) fn open(
    key: &[u8; KEY_LEN],
    key_id: &[u8; KEY_ID_LEN],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let found = sealed_key_id(sealed)?;
    if &found != key_id {
        return Err(CryptoError::WrongKeyId {
            expected: hex::encode(key_id),
            found: hex::encode(found),
        });
    }
    let (header, body) = sealed.split_at(HEADER_LEN);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&header[1 + KEY_ID_LEN..]);
    let aad = full_aad(header, aad);
    let mut buf = Zeroizing::new(body.to_vec());
    let len = aead_key(key)
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&aad[..]),
            &mut buf,
        )
        .map_err(|_| CryptoError::Tampered)?
        .len();
    buf.truncate(len);
    Ok(buf)
}

/// The key id recorded in a sealed value, after checking its version and minimum length.
pub(crate) fn sealed_key_id(sealed: &[u8]) -> Result<[u8; KEY_ID_LEN], CryptoError> {
    if sealed.len() < OVERHEAD {
        return Err(CryptoError::Malformed("shorter than header and tag"));
    }
    if sealed[0] != VERSION_V1 {
        return Err(CryptoError::Malformed("unknown format version"));
    }
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(&sealed[1..1 + KEY_ID_LEN]);
    Ok(id)
}
