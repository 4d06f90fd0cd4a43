//! Envelope encryption for tidegate: a long-lived **master key** (the KEK, kept outside the
//! database) wraps short-lived, per-object **data keys**, which seal the actual secrets with
//! AES-256-GCM.
//!
//! Why envelope encryption: rotating the master key only re-wraps a few dozen bytes per object
//! (no plaintext secret is ever rewritten), and destroying an object's wrapped data key makes
//! its ciphertext unreadable even to someone who holds the master key (crypto-shredding).
//!
//! ```
//! use tidegate_crypto::{DataKey, MasterKey};
//!
//! let kek = MasterKey::generate();
//! let dk = DataKey::generate();
//! let aad = b"tidegate:v1:account:acc_1:credentials";
//!
//! let sealed = dk.seal(aad, b"refresh-token");
//! let wrapped = kek.wrap(&dk, b"tidegate:v1:account:acc_1:data_key");
//!
//! // Later, possibly in another process holding the same master key:
//! let dk2 = kek.unwrap(&wrapped, b"tidegate:v1:account:acc_1:data_key").unwrap();
//! assert_eq!(&dk2.open(aad, &sealed).unwrap()[..], b"refresh-token");
//! ```
//!
//! Every sealed value is self-describing: `version (1 byte) | key id (8 bytes) | nonce (12 bytes)
//! | ciphertext | tag (16 bytes)`. The header is authenticated too (it is part of the AAD), so a
//! flipped bit anywhere is reported as [`CryptoError::Tampered`], a value sealed under another
//! key as [`CryptoError::WrongKeyId`], and a truncated or foreign blob as
//! [`CryptoError::Malformed`].
#![forbid(unsafe_code)]

mod data_key;
mod error;
mod format;
mod master_key;

pub use data_key::DataKey;
pub use error::CryptoError;
pub use format::{KEY_ID_LEN, NONCE_LEN, OVERHEAD, TAG_LEN, VERSION_V1};
pub use master_key::{KEY_FILE_PREFIX, MasterKey};

/// Length in bytes of every key (AES-256).
pub const KEY_LEN: usize = 32;

/// The key id of raw key bytes: the first 8 bytes of SHA-256(key), lower-case hex.
///
/// It identifies a key without revealing anything usable about it (the key is 256 random bits),
/// so it can be stored next to ciphertexts and printed in errors and `keys rotate` output.
pub fn key_id_of(key: &[u8; KEY_LEN]) -> String {
    hex::encode(raw_key_id(key))
}

pub(crate) fn raw_key_id(key: &[u8; KEY_LEN]) -> [u8; KEY_ID_LEN] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key);
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(&digest.as_ref()[..KEY_ID_LEN]);
    id
}

/// Fills `buf` from the operating system's CSPRNG.
///
/// Panics only if the OS random source fails, which leaves no safe way to continue.
pub fn fill_random(buf: &mut [u8]) {
    use aws_lc_rs::rand::SecureRandom;
    aws_lc_rs::rand::SystemRandom::new()
        .fill(buf)
        .expect("the operating system's random number generator failed");
}
