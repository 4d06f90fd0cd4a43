//! Key providers: where the master key (KEK) comes from. It is never stored in the database.

use std::path::PathBuf;

use tidegate_crypto::{CryptoError, MasterKey};

/// A source of a master key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// A key file (`tidegate-kek-v1:<base64>`), mode 0600 or stricter.
    File(PathBuf),
    /// An environment variable holding the same text (or 64 hex digits).
    Env(String),
}

impl KeySource {
    /// Loads the key.
    pub fn load(&self) -> Result<MasterKey, CryptoError> {
        match self {
            KeySource::File(path) => MasterKey::load_file(path),
            KeySource::Env(var) => MasterKey::from_env(var),
        }
    }
}
