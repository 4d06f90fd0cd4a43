//! The vault's error type and its mapping onto the gateway's fixed vocabulary.

use std::{sync::Arc, time::Duration};

use tidegate_core::ErrorCode;

/// Why the vault could not produce a credential or perform an operation. Cheap to clone (one
/// refresh result is shared by every coalesced caller). Never contains a secret.
#[derive(Clone, Debug, thiserror::Error)]
pub enum VaultError {
    /// No such account (or one of another connector/environment).
    #[error("unknown account")]
    UnknownAccount,
    /// The grant was revoked; the account must be reconnected.
    #[error("account needs re-authorization ({reason})")]
    NeedsReauth {
        /// The provider's error code.
        reason: String,
    },
    /// Refreshing failed for a reason that may go away (token endpoint down, rate limited,
    /// lock contention).
    #[error("token refresh failed: {reason}")]
    RefreshFailed {
        /// What happened.
        reason: String,
        /// When to try again, if known.
        retry_after: Option<Duration>,
    },
    /// The token endpoint rejected our client (invalid_client, ...): an operator must fix the
    /// connector's configuration.
    #[error(
        "token endpoint rejected the client configuration ({code}); check the connector's client_id/client_secret"
    )]
    ClientMisconfigured {
        /// The provider's error code.
        code: String,
    },
    /// Bad input to an admin operation.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Storage failed.
    #[error(transparent)]
    Store(Arc<crate::store::StoreError>),
    /// A stored value could not be decrypted (wrong master key, tampering).
    #[error("cannot decrypt stored credentials: {0}")]
    Crypto(Arc<tidegate_crypto::CryptoError>),
    /// The lock backend failed.
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    /// Configuration problem (unknown connector, missing key...).
    #[error("configuration: {0}")]
    Config(String),
}

impl From<crate::store::StoreError> for VaultError {
    fn from(e: crate::store::StoreError) -> Self {
        VaultError::Store(Arc::new(e))
    }
}

impl From<tidegate_crypto::CryptoError> for VaultError {
    fn from(e: tidegate_crypto::CryptoError) -> Self {
        VaultError::Crypto(Arc::new(e))
    }
}

impl VaultError {
    /// The CONTRACT §4 code callers see.
    pub fn code(&self) -> ErrorCode {
        match self {
            VaultError::UnknownAccount => ErrorCode::UnknownAccount,
            VaultError::NeedsReauth { .. } => ErrorCode::NeedsReauth,
            VaultError::RefreshFailed { .. } | VaultError::ClientMisconfigured { .. } => {
                ErrorCode::TokenRefreshFailed
            }
            VaultError::Invalid(_) => ErrorCode::InvalidRequest,
            VaultError::Store(_)
            | VaultError::Crypto(_)
            | VaultError::Lock(_)
            | VaultError::Config(_) => ErrorCode::InternalError,
        }
    }
}

impl From<VaultError> for tidegate_core::Error {
    fn from(e: VaultError) -> Self {
        let code = e.code();
        let detail = match &e {
            // Internal details go to the operator's log, not to the caller.
            VaultError::Store(_)
            | VaultError::Crypto(_)
            | VaultError::Lock(_)
            | VaultError::Config(_) => {
                tracing::error!(error = %e, "vault failure");
                "the credential vault failed; see the gateway log".to_owned()
            }
            other => other.to_string(),
        };
        let retry_after = match &e {
            VaultError::RefreshFailed { retry_after, .. } => *retry_after,
            _ => None,
        };
        let mut err = tidegate_core::Error::new(code, detail);
        if let Some(after) = retry_after {
            err = err.with_retry_after(after);
        }
        err.with_source(e)
    }
}
