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

/// Every admin route, relative to `/admin`. Add one `.merge(module::routes())` per module.
fn routes() -> Router<AppState> {
    Router::new()
        .merge(breakers::routes()) // GET /breakers
        .merge(accounts::routes()) // PUT/GET/DELETE /accounts/{id}, POST /accounts/{id}/refresh
}

/// The guarded `/admin` router, to be nested at `/admin`.
pub(crate) fn router(state: AppState) -> Router<AppState> {
    routes()
        .fallback(crate::not_found)
        .layer(axum::middleware::from_fn_with_state(state, require_admin_key))
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
