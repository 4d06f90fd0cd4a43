//! Account metadata for the report, read through tidegate-vault's store (the same code the
//! gateway uses, so the audit cannot disagree with it about what an account is). Only metadata
//! leaves this module: ids, connector, status, key id and timestamps — never a credential.

use crate::live::AccountFacts;

/// Lists every stored account's metadata. Errors are returned as text for the report.
pub async fn list(storage_url: &str) -> Result<Vec<AccountFacts>, String> {
    let store = tidegate_vault::store::open_store(storage_url)
        .await
        .map_err(|e| e.to_string())?;
    let records = store.list().await.map_err(|e| e.to_string())?;
    Ok(records
        .into_iter()
        .map(|r| AccountFacts {
            id: r.id,
            connector: r.connector,
            auth_type: r.auth_type,
            status: r.status.as_str().to_owned(),
            key_id: r.key_id,
            expires_at_ms: r.expires_at,
            last_refreshed_at_ms: r.last_refreshed_at,
            updated_at_ms: r.updated_at,
        })
        .collect())
}
