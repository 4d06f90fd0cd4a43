//! The one error type of this crate. Messages never contain key material or plaintext.

use std::path::PathBuf;

/// Why a key could not be loaded or a value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The value was sealed (or wrapped) under a different key than the one presented: e.g.
    /// the master key was rotated and the old key was not supplied.
    #[error("sealed under key id {found}, but the key presented has id {expected}")]
    WrongKeyId {
        /// The id of the key that was used to try to open the value.
        expected: String,
        /// The id recorded in the sealed value.
        found: String,
    },
    /// The authentication tag did not verify: the ciphertext or its header was edited, or the
    /// associated data (the account/field binding) differs from the one it was sealed with.
    #[error(
        "authentication failed: the ciphertext was modified or is bound to other associated data"
    )]
    Tampered,
    /// Not a sealed value of a version this build understands (truncated, wrong version byte).
    #[error("malformed sealed value: {0}")]
    Malformed(&'static str),
    /// The key file could not be read, created or parsed.
    #[error("key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What went wrong (never the key itself).
        reason: String,
    },
    /// The key file is readable by group or others; a master key must be mode 0600 or stricter.
    #[error("key file {path} has mode {mode:04o}; it must not be readable by group or others (chmod 600 {path})", path = .path.display())]
    InsecureKeyFile {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The environment variable holding the master key is unset or not a valid key.
    #[error("environment variable {var}: {reason}")]
    KeyEnv {
        /// The variable name.
        var: String,
        /// What went wrong (never the value).
        reason: String,
    },
}
