//! Break-glass access: `tidegate accounts reveal ID --reason "..."`, the only way to see a stored
//! credential in plaintext, and always on the record.
//!
//! Order of operations, so that nothing is ever shown without a trail entry:
//! 1. no (or a blank) reason: the attempt is recorded as `refused` (best effort) and refused;
//! 2. the credential is decrypted in memory (a failure is recorded as `failed`);
//! 3. the reveal is appended to the admin trail with the operator and the reason;
//! 4. only if that append succeeded is the plaintext returned to the caller to print.

use tidegate_config::{Config, KeyProvider};
use zeroize::Zeroizing;

use crate::live::DEFAULT_KEY_ENV;
use crate::trail::{Actor, NewEntry, Outcome, Trail, actions};

/// Why a reveal did not happen. Messages never contain credential material.
#[derive(Debug, thiserror::Error)]
pub enum RevealError {
    /// `--reason` missing or blank (exit 2: bad usage).
    #[error(
        "a reveal needs --reason \"...\" (why you need to see this credential); the attempt was recorded"
    )]
    MissingReason,
    /// No such account.
    #[error("unknown account {0:?}")]
    UnknownAccount(String),
    /// Storage, key or decryption failure.
    #[error("cannot reveal: {0}")]
    Failed(String),
    /// The reveal could not be recorded, so nothing is shown.
    #[error("the reveal could not be recorded in the admin trail, so nothing is shown: {0}")]
    Unrecorded(String),
}

impl RevealError {
    /// The CLI exit code: 2 for a missing reason (bad usage), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            RevealError::MissingReason => 2,
            _ => 1,
        }
    }
}

fn target(account_id: &str) -> String {
    format!("account:{account_id}")
}

async fn record(
    trail: &Trail,
    actor: &Actor,
    account_id: &str,
    outcome: Outcome,
    detail: &str,
) -> Result<(), String> {
    trail
        .append_entry(NewEntry {
            actor,
            action: actions::ACCOUNT_REVEAL,
            target: &target(account_id),
            outcome,
            detail: Some(detail),
        })
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Reveals the plaintext credentials of `account_id` as JSON (e.g.
/// `{"type":"oauth2","access_token":"...","refresh_token":"...","scope":"..."}`), recording the
/// reveal in the admin trail first. The returned string is zeroized when dropped.
pub async fn reveal(
    config: &Config,
    account_id: &str,
    reason: Option<&str>,
    actor: &Actor,
) -> Result<Zeroizing<String>, RevealError> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    let Some(reason) = reason else {
        // Record the refused attempt when the store is there; refuse either way.
        if let Ok(trail) = Trail::connect(&config.storage.url).await {
            let _ = record(
                &trail,
                actor,
                account_id,
                Outcome::Refused,
                "no --reason given",
            )
            .await;
        }
        return Err(RevealError::MissingReason);
    };
    let trail = Trail::connect(&config.storage.url)
        .await
        .map_err(|e| RevealError::Unrecorded(e.to_string()))?;

    match decrypt(config, account_id).await {
        Ok(plaintext) => {
            record(&trail, actor, account_id, Outcome::Ok, reason)
                .await
                .map_err(RevealError::Unrecorded)?;
            Ok(plaintext)
        }
        Err(e) => {
            let detail = format!("{reason} ({e})");
            record(&trail, actor, account_id, Outcome::Failed, &detail)
                .await
                .map_err(RevealError::Unrecorded)?;
            Err(e)
        }
    }
}

async fn decrypt(config: &Config, account_id: &str) -> Result<Zeroizing<String>, RevealError> {
    let store = tidegate_vault::store::open_store(&config.storage.url)
        .await
        .map_err(|e| RevealError::Failed(e.to_string()))?;
    let source = match config.keys.provider {
        KeyProvider::File => {
            tidegate_vault::keys::KeySource::File(config.keys.path.clone().unwrap_or_default())
        }
        KeyProvider::Env => tidegate_vault::keys::KeySource::Env(
            config
                .keys
                .env
                .clone()
                .unwrap_or_else(|| DEFAULT_KEY_ENV.to_owned()),
        ),
    };
    let key = source
        .load()
        .map_err(|e| RevealError::Failed(e.to_string()))?;
    // A reveal never refreshes, so an in-process lock is enough here.
    let lock =
        tidegate_vault::lock::open_lock("local").map_err(|e| RevealError::Failed(e.to_string()))?;
    let vault = tidegate_vault::Vault::builder(store, lock, key).build();
    let creds = vault
        .decrypt_credentials(account_id)
        .await
        .map_err(|e| match e {
            tidegate_vault::VaultError::UnknownAccount => {
                RevealError::UnknownAccount(account_id.to_owned())
            }
            other => RevealError::Failed(other.to_string()),
        })?;
    serde_json::to_string(&creds)
        .map(Zeroizing::new)
        .map_err(|e| RevealError::Failed(e.to_string()))
}
