//! A write endpoint that records the idempotency key of every attempt and can drop the
//! connection of the first attempts, so the demo and tests can show that a retried write
//! carries the SAME key as the attempt that was cut off.
//!
//! - `POST /v1/orders` records the `Idempotency-Key` header (or `-` when absent), then either
//!   drops the connection without answering (while [`WriteRecorder::reset_next`] resets
//!   remain) or answers `201 { "id", "idempotency_key" }`.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use tidegate_sandbox::{Sandbox, idempotency::{self, WriteRecorder}};
//!
//! let writes = WriteRecorder::default();
//! writes.reset_next(1);
//! let sandbox = Sandbox::new().merge(idempotency::router(writes.clone()))
//!     .bind("127.0.0.1:0".parse().unwrap()).await?;
//! // ... after one POST through a retrying client:
//! assert_eq!(writes.keys().len(), 2);
//! # let _ = sandbox; Ok(()) }
//! ```

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};

use axum::{
    Json, Router,
    extract::State,
    response::{IntoResponse, Response},
    routing::post,
};
use http::{HeaderMap, StatusCode};

use crate::faults::Step;

/// What `POST /v1/orders` saw. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct WriteRecorder {
    keys: Arc<Mutex<Vec<String>>>,
    resets_left: Arc<AtomicU64>,
}

impl WriteRecorder {
    /// Drops the connection of the next `n` attempts (after recording their keys).
    pub fn reset_next(&self, n: u64) {
        self.resets_left.store(n, Ordering::SeqCst);
    }

    /// The key of every attempt, in arrival order (`-`: the attempt carried none).
    pub fn keys(&self) -> Vec<String> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Forgets the recorded keys.
    pub fn clear(&self) {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

async fn orders(State(rec): State<WriteRecorder>, headers: HeaderMap) -> Response {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    rec.keys
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(key.clone());
    let reset = rec
        .resets_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if reset {
        return Step::reset().respond().await;
    }
    (
        StatusCode::CREATED,
        Json(serde_json::json!({ "id": "ord_1", "idempotency_key": key })),
    )
        .into_response()
}

/// `POST /v1/orders`.
pub fn router(recorder: WriteRecorder) -> Router {
    Router::new()
        .route("/v1/orders", post(orders))
        .with_state(recorder)
}
