//! Decrypted credentials and their envelope encryption.

use std::fmt;

use serde::{Deserialize, Serialize};
use tidegate_crypto::{CryptoError, DataKey, MasterKey};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The plaintext credentials of one account. Exists only in memory, zeroized on drop, and
/// its `Debug` prints no secret.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Credentials {
    /// OAuth 2.0 tokens.
    #[serde(rename = "oauth2")]
    OAuth2 {
        /// The access token.
        access_token: String,
        /// The refresh token, if the provider issued one.
        refresh_token: Option<String>,
        /// Granted scope.
        scope: Option<String>,
    },
    /// A static api key.
    ApiKey {
        /// The key.
        api_key: String,
    },
    /// HTTP Basic.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// Nothing stored (`auth = none`).
    None,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Credentials::OAuth2 { .. } => "oauth2",
            Credentials::ApiKey { .. } => "api_key",
            Credentials::Basic { .. } => "basic",
            Credentials::None => "none",
        };
        write!(f, "Credentials::{kind}([REDACTED])")
    }
}

/// AAD binding an account's sealed credentials to its id and field.
pub fn credentials_aad(account_id: &str) -> Vec<u8> {
    format!("tidegate:v1:account:{account_id}:credentials").into_bytes()
}

/// AAD binding an account's wrapped data key to its id.
pub fn data_key_aad(account_id: &str) -> Vec<u8> {
    format!("tidegate:v1:account:{account_id}:data_key").into_bytes()
}

/// AAD binding a connect flow's sealed PKCE verifier to its state.
pub fn connect_aad(state: &str) -> Vec<u8> {
    format!("tidegate:v1:connect:{state}:verifier").into_bytes()
}

/// The master key in use plus earlier ones still accepted for unwrapping (during a rotation).
#[derive(Clone, Debug)]
pub struct KeyRing {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl KeyRing {
    /// A ring with only `current`.
    pub fn new(current: MasterKey) -> Self {
        Self {
            current,
            previous: Vec::new(),
        }
    }

    /// Adds an older key that may still have wrapped some data keys.
    pub fn with_previous(mut self, key: MasterKey) -> Self {
        self.previous.push(key);
        self
    }

    /// The key new data keys are wrapped with.
    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    /// Unwraps with whichever key of the ring wrapped it (by key id).
    pub fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<DataKey, CryptoError> {
        let id = MasterKey::id_of_wrapped(wrapped)?;
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id() == id)
            .unwrap_or(&self.current);
        key.unwrap(wrapped, aad)
    }

    /// Seals `creds` for `account_id` under a NEW data key: `(sealed, wrapped key, kek id)`.
    pub fn seal_new(&self, account_id: &str, creds: &Credentials) -> (Vec<u8>, Vec<u8>, String) {
        let dk = DataKey::generate();
        let sealed = seal_with(&dk, account_id, creds);
        (
            sealed,
            self.current.wrap(&dk, &data_key_aad(account_id)),
            self.current.id(),
        )
    }
}

/// Seals `creds` with an existing data key.
pub fn seal_with(dk: &DataKey, account_id: &str, creds: &Credentials) -> Vec<u8> {
    let json = Zeroizing::new(serde_json::to_vec(creds).expect("credentials always serialize"));
    dk.seal(&credentials_aad(account_id), &json)
}

/// Opens sealed credentials.
pub fn open_with(
    dk: &DataKey,
    account_id: &str,
    sealed: &[u8],
) -> Result<Credentials, CryptoError> {
    let json = dk.open(&credentials_aad(account_id), sealed)?;
    serde_json::from_slice(&json)
        .map_err(|_| CryptoError::Malformed("credentials are not valid JSON"))
}
