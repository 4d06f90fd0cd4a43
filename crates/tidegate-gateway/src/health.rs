//! `/healthz` (the process is up) and `/readyz` (its dependencies are reachable).
//!
//! Components that the gateway depends on (credential storage, the lock service, the key
//! provider) register a [`ReadinessCheck`] with
//! [`AppBuilder::readiness_check`](crate::AppBuilder::readiness_check); `/readyz` runs them
//! all concurrently, each bounded by [`CHECK_TIMEOUT`], and answers 200 only if all pass:
//!
//! ```json
//! { "status": "ready", "checks": [ { "name": "storage", "ok": true } ] }
//! { "status": "unavailable", "checks": [ { "name": "locks", "ok": false, "error": "timed out" } ] }
//! ```
//!
//! ```
//! use std::{future::Future, pin::Pin};
//! use tidegate_gateway::health::ReadinessCheck;
//!
//! struct Storage;
//! impl ReadinessCheck for Storage {
//!     fn name(&self) -> &str { "storage" }
//!     fn check(&self) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
//!         Box::pin(async { Ok(()) }) // e.g. `SELECT 1`
//!     }
//! }
//! ```

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use serde::Serialize;

use crate::AppState;

/// Bound on each readiness check.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// A dependency whose reachability decides readiness. Must not leak secrets in its error.
pub trait ReadinessCheck: Send + Sync + 'static {
    /// Short stable name (`storage`, `locks`, `keys`).
    fn name(&self) -> &str;
    /// `Ok` when reachable; `Err(reason)` otherwise.
    fn check(&self) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>>;
}

/// The result of one check.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct CheckResult {
    /// The check's name.
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The `/readyz` body.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: String,
    /// Every check, in registration order.
    pub checks: Vec<CheckResult>,
}

/// Runs every check concurrently.
pub async fn run_checks(checks: &[Arc<dyn ReadinessCheck>]) -> Readiness {
    let results = futures_util::future::join_all(checks.iter().map(|c| async move {
        let outcome = tokio::time::timeout(CHECK_TIMEOUT, c.check()).await;
        let error = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some(format!("timed out after {CHECK_TIMEOUT:?}")),
        };
        CheckResult {
            name: c.name().to_owned(),
            ok: error.is_none(),
            error,
        }
    }))
    .await;
    let ready = results.iter().all(|r| r.ok);
    Readiness {
        status: if ready { "ready" } else { "unavailable" }.to_owned(),
        checks: results,
    }
}

pub(crate) async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok" }))
}

pub(crate) async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let readiness = run_checks(&state.inner.readiness).await;
    let status = if readiness.status == "ready" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(&'static str, Result<(), String>);
    impl ReadinessCheck for Fixed {
        fn name(&self) -> &str {
            self.0
        }
        fn check(&self) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
            let r = self.1.clone();
            Box::pin(async move { r })
        }
    }
    struct Hangs;
    impl ReadinessCheck for Hangs {
        fn name(&self) -> &str {
            "locks"
        }
        fn check(&self) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
            Box::pin(std::future::pending())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn all_checks_must_pass_and_hangs_time_out() {
        assert_eq!(run_checks(&[]).await.status, "ready");
        let ok: Arc<dyn ReadinessCheck> = Arc::new(Fixed("storage", Ok(())));
        assert_eq!(run_checks(std::slice::from_ref(&ok)).await.status, "ready");
        let bad: Arc<dyn ReadinessCheck> = Arc::new(Fixed("keys", Err("no key file".into())));
        let r = run_checks(&[ok.clone(), bad, Arc::new(Hangs)]).await;
        assert_eq!(r.status, "unavailable");
        assert!(r.checks[0].ok);
        assert_eq!(r.checks[1].error.as_deref(), Some("no key file"));
        assert!(r.checks[2].error.as_deref().unwrap().contains("timed out"));
    }
}
