//! A per-object data key: seals and opens one object's secrets.

use std::fmt;

use zeroize::Zeroizing;

use crate::{CryptoError, KEY_ID_LEN, KEY_LEN, format};

/// A 256-bit AES-GCM key for one object (an account's credentials, a claim-check payload).
///
/// Stored only wrapped by a [`crate::MasterKey`]; zeroized on drop; `Debug` shows only its id.
#[derive(Clone)]
pub struct DataKey {
    key: Zeroizing<[u8; KEY_LEN]>,
    id: [u8; KEY_ID_LEN],
}

impl DataKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        crate::fill_random(&mut key[..]);
        Self::from_secret(key)
    }

    pub(crate) fn from_secret(key: Zeroizing<[u8; KEY_LEN]>) -> Self {
        let id = crate::raw_key_id(&key);
        Self { key, id }
    }

    pub(crate) fn secret(&self) -> &[u8; KEY_LEN] {
        &self.key
    }

    /// The key id (first 8 bytes of SHA-256 of the key, hex).
    pub fn id(&self) -> String {
        hex::encode(self.id)
    }

    /// Seals `plaintext`, bound to `aad` (e.g. `tidegate:v1:account:{id}:credentials`), with a
    /// fresh random 96-bit nonce. Output: `version | key id | nonce | ciphertext | tag`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        format::seal(&self.key, &self.id, aad, plaintext)
    }

    /// Opens a value sealed by [`DataKey::seal`] with the same `aad`.
    ///
    /// Errors: [`CryptoError::WrongKeyId`] (sealed under another data key),
    /// [`CryptoError::Tampered`] (edited bytes or different `aad`), [`CryptoError::Malformed`].
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        format::open(&self.key, &self.id, aad, sealed)
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("id", &self.id())
            .field("key", &"[REDACTED]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AAD: &[u8] = b"tidegate:v1:account:acc_1:credentials";

    #[test]
    fn round_trip() {
        let dk = DataKey::generate();
        let sealed = dk.seal(AAD, b"secret token");
        assert_eq!(sealed.len(), b"secret token".len() + crate::OVERHEAD);
        assert_eq!(&dk.open(AAD, &sealed).unwrap()[..], b"secret token");
        assert_eq!(&dk.open(AAD, &dk.seal(AAD, b"")).unwrap()[..], b"");
    }

    #[test]
    fn nonces_are_fresh() {
        let dk = DataKey::generate();
        assert_ne!(dk.seal(AAD, b"x"), dk.seal(AAD, b"x"));
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let dk = DataKey::generate();
        let sealed = dk.seal(AAD, b"secret token");
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            let err = dk.open(AAD, &bad).unwrap_err();
            match i {
                0 => assert!(matches!(err, CryptoError::Malformed(_)), "{i}: {err}"),
                1..=8 => assert!(matches!(err, CryptoError::WrongKeyId { .. }), "{i}: {err}"),
                _ => assert!(matches!(err, CryptoError::Tampered), "{i}: {err}"),
            }
        }
    }

    #[test]
    fn wrong_aad_is_tampered() {
        let dk = DataKey::generate();
        let sealed = dk.seal(AAD, b"secret token");
        let err = dk
            .open(b"tidegate:v1:account:acc_2:credentials", &sealed)
            .unwrap_err();
        assert!(matches!(err, CryptoError::Tampered));
    }

    #[test]
    fn other_key_is_wrong_key_id() {
        let sealed = DataKey::generate().seal(AAD, b"secret token");
        let other = DataKey::generate();
        match other.open(AAD, &sealed).unwrap_err() {
            CryptoError::WrongKeyId { expected, found } => {
                assert_eq!(expected, other.id());
                assert_ne!(found, expected);
            }
            e => panic!("unexpected {e}"),
        }
    }

    #[test]
    fn truncated_is_malformed() {
        let dk = DataKey::generate();
        let sealed = dk.seal(AAD, b"x");
        assert!(matches!(
            dk.open(AAD, &sealed[..10]),
            Err(CryptoError::Malformed(_))
        ));
        assert!(matches!(dk.open(AAD, &[]), Err(CryptoError::Malformed(_))));
    }

    #[test]
    fn debug_is_redacted() {
        let dk = DataKey::generate();
        let dbg = format!("{dk:?}");
        assert!(dbg.contains("REDACTED"));
        assert!(!dbg.contains(&hex::encode(dk.secret())));
    }
}
