//! `GET /admin/breakers`: every circuit breaker's state (CONTRACT §7).
//!
//! `{ "breakers": [ { "connector", "key", "state": "closed"|"open"|"half_open",
//! "consecutive_failures", "opened_count", "retry_after_s" } ] }`, ordered by key. The rows
//! come from the stacks' shared `BreakerRegistry`; taking the snapshot never blocks a call.

use axum::{Json, Router, extract::State, routing::get};
use tidegate_layers::breaker::{BreakerRegistry, BreakerSnapshot};

use crate::AppState;

/// The breaker routes, relative to `/admin`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/breakers", get(list))
}

#[derive(serde::Serialize)]
struct Breakers {
    breakers: Vec<BreakerSnapshot>,
}

async fn list(State(state): State<AppState>) -> Json<Breakers> {
    Json(snapshot(&state.stacks().shared().breakers))
}

fn snapshot(registry: &BreakerRegistry) -> Breakers {
    Breakers {
        breakers: registry.snapshot(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tidegate_layers::breaker::{BreakerSettings, Outcome};

    use super::*;

    #[tokio::test]
    async fn lists_every_breaker_in_the_contract_shape() {
        let registry = BreakerRegistry::new();
        let settings = Arc::new(BreakerSettings {
            consecutive_failures: Some(1),
            open_jitter: 0.0,
            ..BreakerSettings::default()
        });
        registry.get_or_create("hubspot", None, &settings);
        let open = registry.get_or_create("stripe", None, &settings);
        open.try_acquire().unwrap().record(Outcome::Failure, false);

        let json = serde_json::to_value(snapshot(&registry)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "breakers": [
                { "connector": "hubspot", "key": "hubspot", "state": "closed",
                  "consecutive_failures": 0, "opened_count": 0, "retry_after_s": 0 },
                { "connector": "stripe", "key": "stripe", "state": "open",
                  "consecutive_failures": 1, "opened_count": 1, "retry_after_s": 30 }
            ] })
        );
    }
}
