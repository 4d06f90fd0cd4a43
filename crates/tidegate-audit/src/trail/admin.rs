//! Recording admin API calls: how an HTTP call to `/admin/*` becomes a trail entry. Kept here,
//! free of any web framework, so the gateway's middleware is a few lines and the mapping is
//! tested once.

use super::{Actor, NewEntry, Outcome, Trail, TrailError, actions};

/// The action and target of an admin API call (`path` relative to the server root, e.g.
/// `/admin/accounts/acc_1/refresh`).
pub fn classify(method: &str, path: &str) -> (&'static str, String) {
    let rest = path.strip_prefix("/admin").unwrap_or(path);
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (method, segments.as_slice()) {
        ("PUT", ["accounts", id]) => (actions::ACCOUNT_PUT, format!("account:{id}")),
        ("DELETE", ["accounts", id]) => (actions::ACCOUNT_DELETE, format!("account:{id}")),
        ("POST", ["accounts", id, "refresh"]) => {
            (actions::ACCOUNT_REFRESH, format!("account:{id}"))
        }
        ("GET", ["accounts", id]) => (actions::ACCOUNT_READ, format!("account:{id}")),
        ("GET", ["accounts"]) => (actions::ACCOUNT_READ, "accounts".to_owned()),
        _ => (actions::ADMIN_REQUEST, format!("{method} {path}")),
    }
}

/// The outcome of an answered call: 2xx/3xx `ok`, 401/403 `refused`, anything else `failed`.
pub fn outcome_for_status(status: u16) -> Outcome {
    match status {
        200..=399 => Outcome::Ok,
        401 | 403 => Outcome::Refused,
        _ => Outcome::Failed,
    }
}

/// The actor of a call from its `Authorization` header value: `admin:<hash prefix>` of the
/// presented bearer key (a wrong key gets its own prefix, never the key), or `admin:anonymous`.
pub fn actor_from_authorization(header: Option<&str>) -> Actor {
    match header
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
    {
        Some(key) if !key.is_empty() => Actor::admin_key(key),
        _ => Actor::named("admin:anonymous"),
    }
}

/// Appends one admin API call to the trail.
pub async fn record_call(
    trail: &Trail,
    authorization: Option<&str>,
    method: &str,
    path: &str,
    status: u16,
) -> Result<(), TrailError> {
    let (action, target) = classify(method, path);
    let actor = actor_from_authorization(authorization);
    let detail = format!("HTTP {status}");
    trail
        .append_entry(NewEntry {
            actor: &actor,
            action,
            target: &target,
            outcome: outcome_for_status(status),
            detail: Some(&detail),
        })
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_routes_map_to_actions() {
        assert_eq!(
            classify("PUT", "/admin/accounts/acc_1"),
            (actions::ACCOUNT_PUT, "account:acc_1".into())
        );
        assert_eq!(
            classify("DELETE", "/admin/accounts/acc_1"),
            (actions::ACCOUNT_DELETE, "account:acc_1".into())
        );
        assert_eq!(
            classify("POST", "/admin/accounts/acc_1/refresh"),
            (actions::ACCOUNT_REFRESH, "account:acc_1".into())
        );
        assert_eq!(
            classify("GET", "/admin/accounts/acc_1"),
            (actions::ACCOUNT_READ, "account:acc_1".into())
        );
        assert_eq!(
            classify("GET", "/admin/breakers"),
            (actions::ADMIN_REQUEST, "GET /admin/breakers".into())
        );
    }

    #[test]
    fn outcomes_and_actors() {
        assert_eq!(outcome_for_status(204), Outcome::Ok);
        assert_eq!(outcome_for_status(401), Outcome::Refused);
        assert_eq!(outcome_for_status(404), Outcome::Failed);
        let a = actor_from_authorization(Some("Bearer s3cret-admin"));
        assert_eq!(a, Actor::admin_key("s3cret-admin"));
        assert!(!a.as_str().contains("s3cret"));
        assert_eq!(actor_from_authorization(None).as_str(), "admin:anonymous");
        assert_eq!(
            actor_from_authorization(Some("Basic x")).as_str(),
            "admin:anonymous"
        );
    }
}
