//! `GET /admin/reconcile`: the reconciliation status of every (connector, account) —
//! `{ "reconcile": [ { "connector", "account_id", "object", "state": "running"|"idle"|
//! "interrupted"|"failed", "last_run_started_at", "last_run_ended_at", "scanned", "missed",
//! "last_error", "high_water_mark" } ] }`, ordered by connector and account.
//!
//! The rows come from the cursor store (shared by every process on the same database), the
//! `running` state from this process's [`tidegate_reconcile::Reconciler`], registered with
//! `AppBuilder::extension(reconciler)`. Without one the list is empty and `enabled` is false.

use axum::{
    Json, Router,
    extract::State,
    response::{IntoResponse, Response},
    routing::get,
};
use tidegate_core::ErrorCode;
use tidegate_reconcile::Reconciler;

use crate::AppState;

/// The reconcile routes, relative to `/admin`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/reconcile", get(list))
}

async fn list(State(state): State<AppState>) -> Response {
    let Some(reconciler) = state.extension::<Reconciler>() else {
        return Json(serde_json::json!({ "enabled": false, "reconcile": [] })).into_response();
    };
    match reconciler.status().await {
        Ok(rows) => Json(serde_json::json!({ "enabled": true, "reconcile": rows })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "reconcile status unavailable");
            crate::problem(
                ErrorCode::InternalError,
                "reconciliation status unavailable",
                None,
            )
        }
    }
}
