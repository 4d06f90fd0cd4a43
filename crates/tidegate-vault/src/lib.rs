//! The credential vault: encrypted storage of integrated accounts' credentials, refreshed
//! exactly once per account across processes, proactively, with revocation handling.
//!
//! * [`store`]: one [`store::Store`] trait, SQLite (embedded) and PostgreSQL backends, runtime
//!   `sqlx` queries, migrations 1000+; every write of a token is a compare-and-swap on the
//!   account's `version` (the fence against a lock holder that stalled past its TTL).
//! * [`credentials`]: envelope encryption (`tidegate-crypto`): a data key per account, sealed
//!   credentials bound to the account id and field, data keys wrapped by the master key.
//! * [`lock`]: the per-account refresh mutex, `local` or Redis (`SET NX PX` + compare-and-delete).
//! * [`Vault`]: cache → single flight → lock → re-read → token endpoint → fenced write; failure
//!   classes (`needs_reauth`, operator error, retryable) per [`token_endpoint`]; the proactive
//!   [`refresher`]; the OAuth [`connect`] flow; [`Vault::rotate_keys`] and crypto-shredding.
//! * [`CredentialLayer`]: the tower layer that injects credentials into a connector stack.
//! * [`EventSink`]: where `account.*` events go (`tidegate-events` implements the durable one).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use tidegate_crypto::MasterKey;
//! use tidegate_vault::{ConnectorAuth, OAuth2Settings, Vault, lock::LocalLock, store::open_store};
//!
//! let vault = Vault::builder(open_store("sqlite://./tidegate-data/tidegate.db").await?, Arc::new(LocalLock::new()), MasterKey::generate())
//!     .connector("crm", ConnectorAuth::OAuth2(OAuth2Settings::new("id", "secret", "https://crm.example/oauth/token")))
//!     .build();
//! let _refresher = vault.spawn_refresher();
//! let credential = vault.credential("acc_1", "crm", Some("production")).await?;
//! # Ok(()) }
//! ```
//!
//! See `docs/credentials.md` for the operator's view.
#![forbid(unsafe_code)]

pub mod clock;
mod coalesce;
pub mod connect;
pub mod credential;
pub mod credentials;
pub mod error;
pub mod events;
pub mod from_config;
pub mod keys;
pub mod layer;
pub mod lock;
mod refresh;
pub mod refresher;
pub mod settings;
pub mod store;
pub mod token_endpoint;
mod vault;

pub use credential::Credential;
pub use error::VaultError;
pub use events::{AccountEvent, EventSink};
pub use layer::CredentialLayer;
pub use settings::{ConnectorAuth, OAuth2Settings, TokenAuth, VaultOptions};
/// The envelope-encryption primitives (master key, data keys).
pub use tidegate_crypto as crypto;
pub use vault::{
    AccountInfo, PutAccount, RefreshHooks, RotateReport, Vault, VaultBuilder, VaultStats,
    is_valid_account_id,
};
