//! The master key (KEK): loaded from a 0600 file or an environment variable, never stored in
//! the database. It only wraps and unwraps data keys.

use std::{fmt, path::Path};

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use zeroize::Zeroizing;

use crate::{CryptoError, DataKey, KEY_ID_LEN, KEY_LEN, format};

/// The one-line text form of a master key: `tidegate-kek-v1:<base64 of 32 bytes>`.
pub const KEY_FILE_PREFIX: &str = "tidegate-kek-v1:";

/// Domain separation: a wrapped data key can never be confused with a sealed secret.
const WRAP_DOMAIN: &[u8] = b"tidegate-wrap-v1:";

/// The key-encryption key. Zeroized on drop; `Debug` shows only its id.
#[derive(Clone)]
pub struct MasterKey {
    key: Zeroizing<[u8; KEY_LEN]>,
    id: [u8; KEY_ID_LEN],
}

impl MasterKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        crate::fill_random(&mut key[..]);
        Self::from_secret(key)
    }

    fn from_secret(key: Zeroizing<[u8; KEY_LEN]>) -> Self {
        let id = crate::raw_key_id(&key);
        Self { key, id }
    }

    /// The key id: first 8 bytes of SHA-256 of the key, hex. Safe to print and store.
    pub fn id(&self) -> String {
        hex::encode(self.id)
    }

    /// Parses the text form (`tidegate-kek-v1:<base64>`; the prefix may be omitted; 64 hex
    /// digits are accepted too, for environment variables).
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let text = text.trim();
        let body = text.strip_prefix(KEY_FILE_PREFIX).unwrap_or(text);
        let bytes = if body.len() == 2 * KEY_LEN && body.bytes().all(|b| b.is_ascii_hexdigit()) {
            Zeroizing::new(hex::decode(body).map_err(|_| "not valid hex")?)
        } else {
            Zeroizing::new(
                B64.decode(body)
                    .map_err(|_| "not valid base64 (or 64 hex digits)")?,
            )
        };
        if bytes.len() != KEY_LEN {
            return Err("a master key must be exactly 32 bytes (256 bits)");
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&bytes);
        Ok(Self::from_secret(key))
    }

    /// The text form, for writing a key file or an environment variable. Zeroized on drop.
    pub fn encode(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{KEY_FILE_PREFIX}{}\n", B64.encode(&self.key[..])))
    }

    /// Loads a key file, refusing one that group or others could read (unix).
    pub fn load_file(path: impl AsRef<Path>) -> Result<Self, CryptoError> {
        let path = path.as_ref();
        let err = |reason: String| CryptoError::KeyFile {
            path: path.to_owned(),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
        check_private(path, &meta)?;
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?);
        Self::parse(&text).map_err(|r| err(r.to_owned()))
    }

    /// Writes a NEW key file with mode 0600; fails if the file already exists (never
    /// overwrites a key: that would orphan every data key wrapped by it).
    pub fn write_new_file(&self, path: impl AsRef<Path>) -> Result<(), CryptoError> {
        use std::io::Write;
        let path = path.as_ref();
        let err = |reason: String| CryptoError::KeyFile {
            path: path.to_owned(),
            reason,
        };
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut file = opts.open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                err("already exists; refusing to overwrite a master key".to_owned())
            } else {
                err(e.to_string())
            }
        })?;
        file.write_all(self.encode().as_bytes())
            .map_err(|e| err(e.to_string()))?;
        file.sync_all().map_err(|e| err(e.to_string()))
    }

    /// Reads the key from environment variable `var` (same text form as the file).
    pub fn from_env(var: &str) -> Result<Self, CryptoError> {
        let err = |reason: &str| CryptoError::KeyEnv {
            var: var.to_owned(),
            reason: reason.to_owned(),
        };
        let value =
            Zeroizing::new(std::env::var(var).map_err(|_| err("is not set (or not UTF-8)"))?);
        Self::parse(&value).map_err(err)
    }

    /// Wraps `dk` under this key, bound to `aad`. The output carries this key's id.
    pub fn wrap(&self, dk: &DataKey, aad: &[u8]) -> Vec<u8> {
        format::seal(&self.key, &self.id, &wrap_aad(aad), dk.secret())
    }

    /// Unwraps a data key wrapped by [`MasterKey::wrap`] with the same `aad`.
    ///
    /// [`CryptoError::WrongKeyId`] means it was wrapped by another master key (e.g. before a
    /// rotation).
    pub fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<DataKey, CryptoError> {
        let bytes = format::open(&self.key, &self.id, &wrap_aad(aad), wrapped)?;
        if bytes.len() != KEY_LEN {
            return Err(CryptoError::Malformed(
                "wrapped data key has the wrong length",
            ));
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&bytes);
        Ok(DataKey::from_secret(key))
    }

    /// The id of the master key a wrapped data key (or any sealed value) names.
    pub fn id_of_wrapped(wrapped: &[u8]) -> Result<String, CryptoError> {
        format::sealed_key_id(wrapped).map(hex::encode)
    }
}

fn wrap_aad(aad: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(WRAP_DOMAIN.len() + aad.len());
    v.extend_from_slice(WRAP_DOMAIN);
    v.extend_from_slice(aad);
    v
}

#[cfg(unix)]
fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<(), CryptoError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CryptoError::InsecureKeyFile {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _meta: &std::fs::Metadata) -> Result<(), CryptoError> {
    Ok(())
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id())
            .field("key", &"[REDACTED]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AAD: &[u8] = b"tidegate:v1:account:acc_1:data_key";

    #[test]
    fn wrap_round_trip() {
        let kek = MasterKey::generate();
        let dk = DataKey::generate();
        let wrapped = kek.wrap(&dk, AAD);
        assert_eq!(MasterKey::id_of_wrapped(&wrapped).unwrap(), kek.id());
        let back = kek.unwrap(&wrapped, AAD).unwrap();
        assert_eq!(back.id(), dk.id());
        let sealed = dk.seal(b"a", b"tok");
        assert_eq!(&back.open(b"a", &sealed).unwrap()[..], b"tok");
    }

    #[test]
    fn wrong_kek_is_wrong_key_id() {
        let wrapped = MasterKey::generate().wrap(&DataKey::generate(), AAD);
        let other = MasterKey::generate();
        let err = other.unwrap(&wrapped, AAD).unwrap_err();
        assert!(matches!(err, CryptoError::WrongKeyId { .. }), "{err}");
        assert!(err.to_string().contains(&other.id()));
    }

    #[test]
    fn wrapped_key_bound_to_aad_and_domain() {
        let kek = MasterKey::generate();
        let dk = DataKey::generate();
        let wrapped = kek.wrap(&dk, AAD);
        assert!(matches!(
            kek.unwrap(&wrapped, b"other"),
            Err(CryptoError::Tampered)
        ));
        let mut bad = wrapped.clone();
        *bad.last_mut().unwrap() ^= 0x80;
        assert!(matches!(kek.unwrap(&bad, AAD), Err(CryptoError::Tampered)));
    }

    #[test]
    fn text_form_round_trips() {
        let kek = MasterKey::generate();
        let text = kek.encode();
        assert!(text.starts_with(KEY_FILE_PREFIX));
        assert_eq!(MasterKey::parse(&text).unwrap().id(), kek.id());
        assert!(MasterKey::parse("tidegate-kek-v1:AAAA").is_err());
        let hex_form = hex::encode(&kek.key[..]);
        assert_eq!(MasterKey::parse(&hex_form).unwrap().id(), kek.id());
        assert!(MasterKey::parse("tidegate-kek-v1:!!").is_err());
    }

    #[test]
    fn key_file_is_created_0600_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let kek = MasterKey::generate();
        kek.write_new_file(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert_eq!(MasterKey::load_file(&path).unwrap().id(), kek.id());
        let err = MasterKey::generate().write_new_file(&path).unwrap_err();
        assert!(err.to_string().contains("refusing to overwrite"), "{err}");
        assert_eq!(MasterKey::load_file(&path).unwrap().id(), kek.id());
    }

    #[cfg(unix)]
    #[test]
    fn readable_key_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        MasterKey::generate().write_new_file(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = MasterKey::load_file(&path).unwrap_err();
        assert!(
            matches!(err, CryptoError::InsecureKeyFile { mode: 0o644, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(MasterKey::load_file(&path).is_ok());
    }

    #[test]
    fn missing_file_and_env_are_clear() {
        let err = MasterKey::load_file("/nonexistent/tidegate/master.key").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/tidegate/master.key"));
        let err = MasterKey::from_env("TIDEGATE_TEST_SURELY_UNSET_KEK").unwrap_err();
        assert!(err.to_string().contains("is not set"));
    }

    #[test]
    fn debug_is_redacted() {
        let kek = MasterKey::generate();
        let dbg = format!("{kek:?}");
        assert!(dbg.contains("REDACTED") && dbg.contains(&kek.id()));
        assert!(!dbg.contains(&B64.encode(&kek.key[..])));
    }
}
