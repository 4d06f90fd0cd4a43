//! (being written)
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
pub use vault::{
    AccountInfo, PutAccount, RefreshHooks, RotateReport, Vault, VaultBuilder, VaultStats,
    is_valid_account_id,
};
