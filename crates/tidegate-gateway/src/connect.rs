//! The OAuth connect flow (CONTRACT §7): `GET /connect/{connector}` redirects the user to the
//! provider's authorize URL (state + PKCE S256, stored server-side, single-use, expiring);
//! `GET /oauth/callback` exchanges the code, stores the tokens encrypted and redirects back to
//! the caller's `redirect_uri` with `?account_id=..&status=connected` (or `status=error&code=..`).
//!
//! Register with `AppBuilder::merge(tidegate_gateway::connect::routes())` and
//! `AppBuilder::extension(vault)`.

use axum::{
    Router,
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use tidegate_core::ErrorCode;
use tidegate_vault::connect::ConnectRequest;

use crate::{
    AppState,
    admin::accounts::{no_vault, vault, vault_problem},
};

/// `/connect/{connector}` and `/oauth/callback`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/connect/{connector}", get(start))
        .route("/oauth/callback", get(callback))
}

fn callback_url(state: &AppState) -> String {
    format!("{}/oauth/callback", state.config().server.public_base_url())
}

fn redirect(location: &str) -> Response {
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location.to_owned()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
    )
        .into_response()
}

async fn start(
    State(state): State<AppState>,
    Path(connector): Path<String>,
    query: Result<Query<ConnectRequest>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(vault) = vault(&state) else {
        return no_vault();
    };
    let Ok(Query(req)) = query else {
        return crate::problem(
            ErrorCode::InvalidRequest,
            "environment, account_id and redirect_uri query parameters are required",
            None,
        );
    };
    if !state.config().connectors.contains_key(&connector) {
        return crate::problem(
            ErrorCode::UnknownConnector,
            format!("unknown connector {connector:?}"),
            None,
        );
    }
    if !state.config().environments.contains_key(&req.environment) {
        return crate::problem(
            ErrorCode::InvalidRequest,
            format!("unknown environment {:?}", req.environment),
            None,
        );
    }
    match vault
        .begin_connect(&connector, &req, &callback_url(&state))
        .await
    {
        Ok(url) => redirect(&url),
        Err(e) => vault_problem(e, &req.account_id),
    }
}

#[derive(serde::Deserialize)]
struct Callback {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

async fn callback(State(state): State<AppState>, Query(cb): Query<Callback>) -> Response {
    let Some(vault) = vault(&state) else {
        return no_vault();
    };
    let Some(st) = cb.state.as_deref() else {
        return crate::problem(ErrorCode::InvalidRequest, "missing state", None);
    };
    match vault
        .complete_connect(
            st,
            cb.code.as_deref(),
            cb.error.as_deref(),
            &callback_url(&state),
        )
        .await
    {
        Ok(outcome) => redirect(&outcome.location),
        Err(e) => vault_problem(e, ""),
    }
}
