//! `/admin/accounts/{id}` (CONTRACT §7): create/replace, read, delete (crypto-shredding) and
//! force-refresh integrated accounts. Responses never echo a credential.
//!
//! The handlers reach the [`tidegate_vault::Vault`] registered with
//! `AppBuilder::extension(vault)`; without one they answer 500 `internal_error`.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{post, put},
};
use tidegate_core::{ErrorCode, Problem};
use tidegate_vault::{PutAccount, Vault, VaultError, store::PutOutcome};

use crate::AppState;

/// The account routes, relative to `/admin`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/accounts/{id}", put(put_account).get(get_account).delete(delete_account))
        .route("/accounts/{id}/refresh", post(refresh_account))
}

/// The vault, or the problem to answer when the app was built without one.
pub(crate) fn vault(state: &AppState) -> Result<&Vault, Response> {
    state
        .extension::<Vault>()
        .ok_or_else(|| crate::problem(ErrorCode::InternalError, "the credential vault is not configured in this gateway", None))
}

/// A vault error as a problem response (internal details are logged, not returned).
pub(crate) fn vault_problem(err: VaultError, account_id: &str) -> Response {
    let core: tidegate_core::Error = err.into();
    let mut p = Problem::from(&core);
    p.integrated_account_id = Some(account_id.to_owned());
    p.into_response().map(axum::body::Body::new)
}

async fn put_account(State(state): State<AppState>, Path(id): Path<String>, body: Bytes) -> Response {
    let vault = match vault(&state) {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let put: PutAccount = match serde_json::from_slice(&body) {
        Ok(p) => p,
        // serde's message names the field, never echoes a value.
        Err(e) => return crate::problem(ErrorCode::InvalidRequest, format!("invalid account body: {e}"), None),
    };
    if !state.config().environments.contains_key(&put.environment) {
        return crate::problem(ErrorCode::InvalidRequest, format!("unknown environment {:?}", put.environment), None);
    }
    if !state.config().connectors.contains_key(&put.connector) {
        return crate::problem(ErrorCode::UnknownConnector, format!("unknown connector {:?}", put.connector), None);
    }
    match vault.put_account(&id, put).await {
        Ok((outcome, info)) => {
            let status = if outcome == PutOutcome::Created { StatusCode::CREATED } else { StatusCode::OK };
            (status, Json(info)).into_response()
        }
        Err(e) => vault_problem(e, &id),
    }
}

async fn get_account(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let vault = match vault(&state) {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    match vault.account(&id).await {
        Ok(Some(info)) => Json(info).into_response(),
        Ok(None) => vault_problem(VaultError::UnknownAccount, &id),
        Err(e) => vault_problem(e, &id),
    }
}

async fn delete_account(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let vault = match vault(&state) {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    match vault.delete_account(&id).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => vault_problem(VaultError::UnknownAccount, &id),
        Err(e) => vault_problem(e, &id),
    }
}

async fn refresh_account(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let vault = match vault(&state) {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    match vault.refresh_now(&id).await {
        Ok(info) => Json(info).into_response(),
        Err(e) => vault_problem(e, &id),
    }
}
