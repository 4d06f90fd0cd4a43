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
        .route(
            "/accounts/{id}",
            put(put_account).get(get_account).delete(delete_account),
        )
        .route("/accounts/{id}/refresh", post(refresh_account))
}

/// The vault registered with the app, if any.
pub(crate) fn vault(state: &AppState) -> Option<&Vault> {
    state.extension::<Vault>()
}

/// The answer when the app was built without a vault.
pub(crate) fn no_vault() -> Response {
    crate::problem(
        ErrorCode::InternalError,
        "the credential vault is not configured in this gateway",
        None,
    )
}

/// A vault error as a problem response (internal details are logged, not returned).
pub(crate) fn vault_problem(err: VaultError, account_id: &str) -> Response {
    let core: tidegate_core::Error = err.into();
    let mut p = Problem::from(&core);
    p.integrated_account_id = Some(account_id.to_owned());
    p.into_response().map(axum::body::Body::new)
}

async fn put_account(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Some(vault) = vault(&state) else {
        return no_vault();
    };
    let put: PutAccount = match serde_json::from_slice(&body) {
        Ok(p) => p,
        // serde's message names the field, never echoes a value.
        Err(e) => {
            return crate::problem(
                ErrorCode::InvalidRequest,
                format!("invalid account body: {e}"),
                None,
            );
        }
    };
    if !state.config().environments.contains_key(&put.environment) {
        return crate::problem(
            ErrorCode::InvalidRequest,
            format!("unknown environment {:?}", put.environment),
            None,
        );
    }
    if !state.config().connectors.contains_key(&put.connector) {
        return crate::problem(
            ErrorCode::UnknownConnector,
            format!("unknown connector {:?}", put.connector),
            None,
        );
    }
    match vault.put_account(&id, put).await {
        Ok((outcome, info)) => {
            let status = if outcome == PutOutcome::Created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (status, Json(info)).into_response()
        }
        Err(e) => vault_problem(e, &id),
    }
}

async fn get_account(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Some(vault) = vault(&state) else {
        return no_vault();
    };
    match vault.account(&id).await {
        Ok(Some(info)) => Json(info).into_response(),
        Ok(None) => vault_problem(VaultError::UnknownAccount, &id),
        Err(e) => vault_problem(e, &id),
    }
}

async fn delete_account(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Some(vault) = vault(&state) else {
        return no_vault();
    };
    match vault.delete_account(&id).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => vault_problem(VaultError::UnknownAccount, &id),
        Err(e) => vault_problem(e, &id),
    }
}

async fn refresh_account(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Some(vault) = vault(&state) else {
        return no_vault();
    };
    match vault.refresh_now(&id).await {
        Ok(info) => Json(info).into_response(),
        Err(e) => vault_problem(e, &id),
    }
}

#[cfg(test)]
mod tests {
    use std::{path::Path, sync::Arc};

    use axum::body::Body;
    use http::Request;
    use http_body_util::BodyExt;
    use tidegate_vault::{
        Vault, crypto::MasterKey, from_config::connector_auth, lock::LocalLock, store::open_store,
    };
    use tower::ServiceExt;

    const CONFIG: &str = r#"
[server]
admin_key = "adm"
[environments.production]
api_keys = ["pk"]
[connectors.crm]
base_url = "http://127.0.0.1:9"
auth = { type = "oauth2", client_id = "cid", client_secret = "cs", token_url = "http://127.0.0.1:9/token", authorize_url = "https://provider.example/authorize" }
[connectors.keyed]
base_url = "http://127.0.0.1:9"
auth = { type = "api_key", header = "X-Api-Key" }
"#;

    async fn app() -> axum::Router {
        let config =
            tidegate_config::Config::from_str(CONFIG, Path::new("/tmp/t.toml"), &|_| None).unwrap();
        let mut builder = Vault::builder(
            open_store("sqlite::memory:").await.unwrap(),
            Arc::new(LocalLock::new()),
            MasterKey::generate(),
        );
        for (name, c) in &config.connectors {
            builder = builder.connector(name.clone(), connector_auth(&c.auth));
        }
        crate::vault::install(crate::App::builder(config), builder.build())
            .build()
            .unwrap()
            .router()
    }

    async fn call(
        app: &axum::Router,
        method: &str,
        uri: &str,
        admin: bool,
        body: &str,
    ) -> (u16, String, http::HeaderMap) {
        let mut req = Request::builder().method(method).uri(uri);
        if admin {
            req = req.header("authorization", "Bearer adm");
        }
        let resp = app
            .clone()
            .oneshot(req.body(Body::from(body.to_owned())).unwrap())
            .await
            .unwrap();
        let (parts, body) = resp.into_parts();
        let text = String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap();
        (parts.status.as_u16(), text, parts.headers)
    }

    #[tokio::test]
    async fn account_routes_follow_the_contract() {
        let app = app().await;
        let put = r#"{"connector":"keyed","environment":"production","credentials":{"api_key":"sk_canary_1"}}"#;
        assert_eq!(
            call(&app, "PUT", "/admin/accounts/acc_1", false, put)
                .await
                .0,
            401
        );
        let (status, body, _) = call(&app, "PUT", "/admin/accounts/acc_1", true, put).await;
        assert_eq!(status, 201, "{body}");
        assert!(!body.contains("sk_canary_1"), "never echo a credential");
        assert_eq!(
            call(&app, "PUT", "/admin/accounts/acc_1", true, put)
                .await
                .0,
            200
        );

        let (status, body, _) = call(&app, "GET", "/admin/accounts/acc_1", true, "").await;
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "connector",
                "environment",
                "expires_at",
                "id",
                "last_refreshed_at",
                "refresh_count",
                "status"
            ]
        );
        assert_eq!(v["status"], "active");

        for (bad, code) in [
            (
                r#"{"connector":"keyed","environment":"staging","credentials":{"api_key":"x"}}"#,
                "invalid_request",
            ),
            (
                r#"{"connector":"nope","environment":"production","credentials":{"api_key":"x"}}"#,
                "unknown_connector",
            ),
            (
                r#"{"connector":"keyed","environment":"production","credentials":{"password":"x"}}"#,
                "invalid_request",
            ),
            ("not json", "invalid_request"),
        ] {
            let (status, body, headers) =
                call(&app, "PUT", "/admin/accounts/acc_2", true, bad).await;
            assert!(status == 400 || status == 404, "{status} {body}");
            assert_eq!(headers["content-type"], "application/problem+json");
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&body).unwrap()["code"],
                code,
                "{body}"
            );
        }
        assert_eq!(
            call(&app, "GET", "/admin/accounts/acc_2", true, "").await.0,
            404
        );

        assert_eq!(
            call(&app, "DELETE", "/admin/accounts/acc_1", true, "")
                .await
                .0,
            204
        );
        let (status, body, _) = call(&app, "GET", "/admin/accounts/acc_1", true, "").await;
        assert_eq!(
            (
                status,
                serde_json::from_str::<serde_json::Value>(&body).unwrap()["code"].clone()
            ),
            (404, "unknown_account".into())
        );
        assert_eq!(
            call(&app, "DELETE", "/admin/accounts/acc_1", true, "")
                .await
                .0,
            404
        );
        assert_eq!(
            call(&app, "POST", "/admin/accounts/acc_1/refresh", true, "")
                .await
                .0,
            404
        );
    }

    #[tokio::test]
    async fn connect_redirects_with_state_and_pkce_and_rejects_unknown_state() {
        let app = app().await;
        let uri = "/connect/crm?environment=production&account_id=acc_c&redirect_uri=https%3A%2F%2Fapp.example%2Fdone";
        let (status, _, headers) = call(&app, "GET", uri, false, "").await;
        assert_eq!(status, 302);
        let location = headers["location"].to_str().unwrap();
        assert!(
            location
                .starts_with("https://provider.example/authorize?response_type=code&client_id=cid"),
            "{location}"
        );
        assert!(location.contains("code_challenge_method=S256") && location.contains("&state="));
        assert!(
            location.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A4000%2Foauth%2Fcallback"),
            "{location}"
        );
        assert_eq!(
            call(
                &app,
                "GET",
                "/connect/keyed?environment=production&account_id=a&redirect_uri=https%3A%2F%2Fx",
                false,
                ""
            )
            .await
            .0,
            400
        );
        assert_eq!(
            call(
                &app,
                "GET",
                "/connect/nope?environment=production&account_id=a&redirect_uri=https%3A%2F%2Fx",
                false,
                ""
            )
            .await
            .0,
            404
        );
        assert_eq!(call(&app, "GET", "/connect/crm", false, "").await.0, 400);
        let (status, body, _) = call(
            &app,
            "GET",
            "/oauth/callback?state=forged&code=x",
            false,
            "",
        )
        .await;
        assert_eq!(status, 400, "{body}");
    }
}
