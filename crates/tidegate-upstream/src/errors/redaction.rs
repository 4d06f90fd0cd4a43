//! Redaction of a normalized problem before it leaves the gateway (CONTRACT §6: no problem
//! response may carry a credential, a caller secret, or `email`/`ssn`/`password` values).
//!
//! The problem is built from the upstream's error body, which vendors fill with whatever the
//! request carried (an echoed email, a rejected password, the bearer token that failed). Two
//! passes, both with the one redactor (`tidegate_observe::redact::Redactor`):
//! 1. [`Redactor::problem`]: secret JSON keys of `upstream.body` at any depth, plus
//!    sensitive-looking values (emails, bearer tokens, card numbers, SSNs) everywhere;
//! 2. values that sat under a secret key of the body are also removed from `detail`,
//!    `upstream.message` and `upstream.code` — a JSONata `errors.message` such as
//!    `"rejected: " & password` copies them into free text, where no pattern would find them.

use serde_json::Value;
use tidegate_core::Problem;
use tidegate_observe::redact::{REDACTED, Redactor};

/// Shortest secret value that is scrubbed from free text: shorter ones (`"x"`, `"no"`) would
/// mangle ordinary words and carry little.
const MIN_SCRUBBED_LEN: usize = 4;

/// The redactor error normalization uses when none is configured: the fixed lists plus the
/// defaults of `[logging] redact_headers` / `redact_fields` (tidegate-config's model).
pub fn default_redactor() -> Redactor {
    Redactor::with_contract_defaults()
}

/// Redacts `problem` in place (see the [module docs](self)).
pub fn redact_problem(redactor: &Redactor, problem: &mut Problem) {
    let mut secrets = Vec::new();
    if let Some(body) = problem.upstream.as_ref().and_then(|u| u.body.as_ref()) {
        collect_secret_values(redactor, body, false, &mut secrets);
    }
    // Longest first, so a value containing another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    let scrub = |text: &mut String| {
        for secret in &secrets {
            if text.contains(secret.as_str()) {
                *text = text.replace(secret.as_str(), REDACTED);
            }
        }
    };
    if let Some(detail) = problem.detail.as_mut() {
        scrub(detail);
    }
    if let Some(upstream) = problem.upstream.as_mut() {
        for text in [upstream.message.as_mut(), upstream.code.as_mut()]
            .into_iter()
            .flatten()
        {
            scrub(text);
        }
    }
    redactor.problem(problem);
}

/// The scalar values found under secret keys (at any depth below one), as text.
fn collect_secret_values(redactor: &Redactor, v: &Value, secret: bool, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (key, child) in map {
                collect_secret_values(
                    redactor,
                    child,
                    secret || redactor.is_secret_field(key),
                    out,
                );
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|child| collect_secret_values(redactor, child, secret, out)),
        Value::String(s) if secret && s.chars().count() >= MIN_SCRUBBED_LEN => out.push(s.clone()),
        Value::Number(n) if secret && n.to_string().len() >= MIN_SCRUBBED_LEN => {
            out.push(n.to_string())
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tidegate_core::{ErrorCode, UpstreamProblem};

    use super::*;

    #[test]
    fn values_under_secret_keys_leave_free_text_too() {
        let mut p = Problem::new(
            ErrorCode::InvalidRequest,
            "password hunter2-x rejected for ann",
        );
        p.upstream = Some(UpstreamProblem {
            status: 400,
            code: Some("E_hunter2-x".into()),
            message: Some("password hunter2-x rejected for ann".into()),
            request_id: None,
            body: Some(json!({ "user": { "password": "hunter2-x", "name": "ann" }, "pin": "no" })),
        });
        redact_problem(&default_redactor(), &mut p);
        assert_eq!(
            p.detail.as_deref(),
            Some("password [REDACTED] rejected for ann")
        );
        let up = p.upstream.unwrap();
        assert_eq!(
            up.message.as_deref(),
            Some("password [REDACTED] rejected for ann")
        );
        assert_eq!(up.code.as_deref(), Some("E_[REDACTED]"));
        assert_eq!(
            up.body,
            Some(json!({ "user": { "password": "[REDACTED]", "name": "ann" }, "pin": "no" }))
        );
    }

    #[test]
    fn a_normalized_upstream_error_carries_no_canary() {
        use crate::errors::{ErrorExprs, ErrorSettings, normalize};
        let settings = ErrorSettings::compile(&ErrorExprs {
            code: Some("error.code"),
            message: Some("error.message & ' (' & user.password & ')'"),
            ..Default::default()
        })
        .unwrap();
        let body = json!({
            "error": { "code": "INVALID_FIELD", "message": "bad login for canary.ann@example.com" },
            "user": { "email": "canary.ann@example.com", "ssn": "123-45-6789",
                      "password": "Canary-Pass-77", "name": "Ann", "id": 42 },
            "echo": { "headers": { "authorization": "Bearer canary-bearer-token-x1" } },
            "note": "retry with Bearer canary-bearer-token-x1"
        });
        let problem = normalize(
            &settings,
            http::StatusCode::BAD_REQUEST,
            &http::HeaderMap::new(),
            body.to_string().as_bytes(),
            None,
        )
        .unwrap();
        let out = serde_json::to_string(&problem).unwrap();
        for canary in [
            "canary.ann@example.com",
            "123-45-6789",
            "Canary-Pass-77",
            "canary-bearer-token-x1",
        ] {
            assert!(!out.contains(canary), "{canary} leaked: {out}");
        }
        let parsed: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed["code"], "invalid_request");
        assert_eq!(parsed["detail"], "bad login for [REDACTED] ([REDACTED])");
        assert_eq!(parsed["upstream"]["code"], "INVALID_FIELD");
        assert_eq!(parsed["upstream"]["body"]["user"]["name"], "Ann");
        assert_eq!(parsed["upstream"]["body"]["user"]["id"], 42);
        assert_eq!(parsed["upstream"]["body"]["user"]["email"], REDACTED);
        assert_eq!(parsed["upstream"]["body"]["user"]["ssn"], REDACTED);
        assert_eq!(parsed["upstream"]["body"]["user"]["password"], REDACTED);
    }

    #[test]
    fn a_configured_redactor_replaces_the_default() {
        use crate::errors::{ErrorSettings, normalize};
        let settings = ErrorSettings::default()
            .with_redactor(Redactor::new::<[&str; 0], &str, _, _>([], ["tax_id"]));
        let body = br#"{"tax_id":"TX-998877","name":"Ann"}"#;
        let problem = normalize(
            &settings,
            http::StatusCode::UNPROCESSABLE_ENTITY,
            &http::HeaderMap::new(),
            body,
            None,
        )
        .unwrap();
        let up = problem.upstream.unwrap();
        assert_eq!(up.body, Some(json!({ "tax_id": REDACTED, "name": "Ann" })));
    }
}
