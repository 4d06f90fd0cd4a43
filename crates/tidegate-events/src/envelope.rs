//! Envelope encryption of everything this crate persists (queued events, claim-check objects):
//! a fresh [`DataKey`] per object seals the bytes, and the master key (KEK) wraps that data key.
//! Both are bound to the object's id as associated data, so a sealed value cannot be moved to
//! another row or object. The AEAD itself lives in `tidegate-crypto`.

use std::sync::Arc;

use tidegate_crypto::{CryptoError, DataKey, MasterKey};
use zeroize::Zeroizing;

/// Seals and opens persisted payloads under the KEK.
#[derive(Clone, Debug)]
pub struct Envelope {
    kek: Arc<MasterKey>,
}

/// A sealed object: the wrapped data key and the ciphertext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// The per-object data key, wrapped by the KEK.
    pub wrapped_key: Vec<u8>,
    /// The payload sealed by the data key.
    pub ciphertext: Vec<u8>,
}

impl Envelope {
    /// Uses `kek` as the key-encryption key.
    pub fn new(kek: Arc<MasterKey>) -> Self {
        Self { kek }
    }

    /// The KEK (for deriving the claim-token key).
    pub(crate) fn kek(&self) -> &MasterKey {
        &self.kek
    }

    /// Seals `plaintext` for the object `aad` (its id, with a domain prefix).
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Sealed {
        let dk = DataKey::generate();
        Sealed {
            wrapped_key: self.kek.wrap(&dk, aad),
            ciphertext: dk.seal(aad, plaintext),
        }
    }

    /// Opens a value sealed by [`Envelope::seal`] with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &Sealed) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let dk = self.kek.unwrap(&sealed.wrapped_key, aad)?;
        dk.open(aad, &sealed.ciphertext)
    }

    /// One blob (for object stores): `u32 BE length of wrapped key || wrapped key || ciphertext`.
    pub fn seal_blob(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let s = self.seal(aad, plaintext);
        let mut out = Vec::with_capacity(4 + s.wrapped_key.len() + s.ciphertext.len());
        out.extend_from_slice(&(s.wrapped_key.len() as u32).to_be_bytes());
        out.extend_from_slice(&s.wrapped_key);
        out.extend_from_slice(&s.ciphertext);
        out
    }

    /// Opens a [`Envelope::seal_blob`] blob.
    pub fn open_blob(&self, aad: &[u8], blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let malformed = || CryptoError::Malformed("claim-check blob is truncated");
        let len_bytes: [u8; 4] = blob
            .get(..4)
            .ok_or_else(malformed)?
            .try_into()
            .map_err(|_| malformed())?;
        let len = u32::from_be_bytes(len_bytes) as usize;
        let wrapped = blob.get(4..4 + len).ok_or_else(malformed)?;
        let ciphertext = blob.get(4 + len..).ok_or_else(malformed)?;
        self.open(
            aad,
            &Sealed {
                wrapped_key: wrapped.to_vec(),
                ciphertext: ciphertext.to_vec(),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let env = Envelope::new(Arc::new(MasterKey::generate()));
        let s = env.seal(b"evt:1", b"secret payload CANARY");
        assert!(!s.ciphertext.windows(6).any(|w| w == b"CANARY"));
        assert_eq!(
            &env.open(b"evt:1", &s).unwrap()[..],
            b"secret payload CANARY"
        );
        assert!(env.open(b"evt:2", &s).is_err(), "bound to its id");
        let blob = env.seal_blob(b"claim:1", b"xyz");
        assert_eq!(&env.open_blob(b"claim:1", &blob).unwrap()[..], b"xyz");
        assert!(env.open_blob(b"claim:1", &blob[..3]).is_err());
        let other = Envelope::new(Arc::new(MasterKey::generate()));
        assert!(
            other.open(b"evt:1", &s).is_err(),
            "another KEK cannot open it"
        );
    }
}
