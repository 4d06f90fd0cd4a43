//! `/admin/*`: the operator API, behind `Authorization: Bearer <server.admin_key>`.
//!
//! The guard wraps everything under `/admin` (unknown admin routes included), compares the
//! key in constant time and answers a 401 `unauthorized` problem otherwise; with no
//! `admin_key` configured every admin request is refused.
//!
//! To add routes, write a module here (e.g. `breakers.rs`, `accounts.rs`) exposing
//! `pub(crate) fn routes() -> Router<AppState>` with paths relative to `/admin`
//! (`/breakers`, `/accounts/{id}`), and merge it in [`routes`] with one line. Handlers reach
//! shared components through `State<AppState>` (`state.extension::<T>()`), and answer errors
//! with [`crate::problem`].

use axum::{
    Router,
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use tidegate_core::ErrorCode;

use crate::AppState;

pub(crate) mod accounts;
mod breakers;
mod reconcile;

/// Every admin route, relative to `/admin`. Add one `.merge(module::routes())` per module.
fn routes() -> Router<AppState> {
    Router::new()
        .merge(breakers::routes()) // GET /breakers
        .merge(accounts::routes()) // PUT/GET/DELETE /accounts/{id}, POST /accounts/{id}/refresh
        .merge(reconcile::routes()) // GET /reconcile
}

/// The guarded `/admin` router, to be nested at `/admin`.
pub(crate) fn router(state: AppState) -> Router<AppState> {
    routes()
        .fallback(crate::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_admin_key,
        ))
        // Outermost, so refused calls (401) are recorded too.
        .layer(axum::middleware::from_fn_with_state(state, record_in_trail))
}

/// Appends every admin call, allowed or refused, to the admin audit trail when the app has one
/// (`AppBuilder::extension(tidegate_audit::trail::Trail)`): actor = a hash prefix of the
/// presented key (never the key), action and target from the route, outcome from the status.
/// (Added by tidegate-audit; the mapping lives in `tidegate_audit::trail::admin`.)
async fn record_in_trail(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(trail) = state.extension::<tidegate_audit::trail::Trail>().cloned() else {
        return next.run(req).await;
    };
    let method = req.method().as_str().to_owned();
    let path = match req.uri().path() {
        p if p.starts_with("/admin") => p.to_owned(),
        p => format!("/admin{p}"),
    };
    let authorization = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let response = next.run(req).await;
    let status = response.status().as_u16();
    if let Err(err) = tidegate_audit::trail::admin::record_call(
        &trail,
        authorization.as_deref(),
        &method,
        &path,
        status,
    )
    .await
    {
        tracing::error!(error = %err, %method, %path, "admin call not recorded in the audit trail");
    }
    response
}

async fn require_admin_key(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if state.inner.admin_key.verify(req.headers()) {
        next.run(req).await
    } else {
        crate::problem(
            ErrorCode::Unauthorized,
            "missing or wrong admin key (Authorization: Bearer <admin_key>)",
            None,
        )
    }
}

#[cfg(test)]
mod trail_tests {
    use std::path::Path;

    use axum::body::Body;
    use tidegate_audit::trail::{Actor, Trail, actions};
    use tower::ServiceExt;

    const CONFIG: &str = r#"
[server]
admin_key = "the-admin-key"
[environments.production]
api_keys = ["caller-key"]
[connectors.crm]
base_url = "https://crm.example.com"
"#;

    /// Every admin call, allowed or refused, is appended once to the admin audit trail.
    #[tokio::test]
    async fn admin_calls_are_recorded_in_the_trail() {
        let db = std::env::temp_dir().join(format!("tg-admin-trail-{}.db", uuid::Uuid::new_v4()));
        let trail = Trail::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let config =
            tidegate_config::Config::from_str(CONFIG, Path::new("tidegate.toml"), &|_| None)
                .unwrap();
        let app = crate::App::builder(config)
            .extension(trail.clone())
            .build()
            .unwrap();

        for key in ["the-admin-key", "wrong-key"] {
            let req = http::Request::get("/admin/breakers")
                .header("authorization", format!("Bearer {key}"))
                .body(Body::empty())
                .unwrap();
            app.router().oneshot(req).await.unwrap();
        }

        let entries = trail.entries().await.unwrap();
        assert_eq!(entries.len(), 2, "{entries:?}");
        assert_eq!(entries[0].action, actions::ADMIN_REQUEST);
        assert_eq!(entries[0].target, "GET /admin/breakers");
        assert_eq!(entries[0].outcome, "ok");
        assert_eq!(entries[0].actor, Actor::admin_key("the-admin-key").as_str());
        assert_eq!(entries[1].outcome, "refused");
        assert!(entries.iter().all(|e| !e.actor.contains("key")));
        assert!(trail.verify().await.unwrap().is_ok());
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
    }
}
