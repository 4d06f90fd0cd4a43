//! Steps on upstream semantics: a vendor 429 normalized (and not retried), a vendor error
//! body normalized into problem+json.

use reqwest::Method;
use tidegate_sandbox::{Script, Step};

use super::{Ctx, NotPassed, StepResult, check};

/// The status and body of a problem+json response (an error if it is not one).
pub async fn problem_of(
    response: reqwest::Response,
) -> Result<(u16, serde_json::Value), NotPassed> {
    let status = response.status().as_u16();
    let ctype = header(response.headers(), "content-type");
    check(ctype == "application/problem+json", || {
        format!("status {status} with content-type {ctype:?}, not application/problem+json")
    })?;
    let body: serde_json::Value = response
        .json()
        .await
        .map_err(|e| format!("problem body is not JSON: {e}"))?;
    Ok((status, body))
}

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

fn is_delta_seconds(value: &str) -> bool {
    !value.is_empty() && value.len() < 10 && value.bytes().all(|b| b.is_ascii_digit())
}

/// Step 3.
pub async fn rate_limited(c: &Ctx) -> StepResult {
    let path = "/ratelimit/hubspot";
    let before = c.sandbox.counters().get(path);
    let response = c
        .proxy(Method::GET, &format!("/hubspot{path}"), Some("acc_hub"))
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let headers = response.headers().clone();
    let (status, problem) = problem_of(response).await?;
    let calls = c.sandbox.counters().get(path) - before;
    c.say("   HubSpot sent   X-HubSpot-RateLimit-Max: 100, -Remaining: 0, -Interval-Milliseconds: 10000");
    c.say("   caller got:");
    for name in [
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "ratelimit-policy",
        "ratelimit",
        "retry-after",
    ] {
        c.say(format!("     {name}: {}", header(&headers, name)));
    }
    c.say(format!("   upstream calls for this request: {calls}"));
    check(status == 429 && problem["code"] == "rate_limited", || {
        format!("{status} {problem}")
    })?;
    check(header(&headers, "ratelimit-limit") == "100", || {
        format!("RateLimit-Limit {:?}", header(&headers, "ratelimit-limit"))
    })?;
    check(header(&headers, "ratelimit-remaining") == "0", || {
        format!(
            "RateLimit-Remaining {:?}",
            header(&headers, "ratelimit-remaining")
        )
    })?;
    for name in ["ratelimit-reset", "retry-after"] {
        let value = header(&headers, name);
        check(is_delta_seconds(&value), || {
            format!("{name} {value:?} is not delta-seconds")
        })?;
    }
    check(!header(&headers, "ratelimit-policy").is_empty(), || {
        "no RateLimit-Policy".into()
    })?;
    check(calls == 1, || {
        format!("the 429 reached the upstream {calls} times (retried?)")
    })?;
    Ok(format!(
        "429 rate_limited; RateLimit-Limit=100 Remaining=0 Reset={} Retry-After={}; upstream calls=1",
        header(&headers, "ratelimit-reset"),
        header(&headers, "retry-after")
    ))
}

/// Step 6.
pub async fn vendor_error(c: &Ctx) -> StepResult {
    let vendor_body = serde_json::json!({
        "status": "error",
        "message": "Property values were not valid: lifecyclestage 'bogus' is not a valid option",
        "correlationId": "3d1b6f0e-6c2a-4f1e-9d7a-2b9c0c8e7f11",
        "category": "VALIDATION_ERROR",
    });
    c.sandbox.script(
        "/crm/v3/objects/contacts",
        Script::new(vec![Step::json(400, vendor_body.clone())]).for_method(Method::POST),
    );
    let response = c
        .proxy(
            Method::POST,
            "/hubspot/crm/v3/objects/contacts",
            Some("acc_hub"),
        )
        .json(&serde_json::json!({ "properties": { "lifecyclestage": "bogus" } }))
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"));
    c.sandbox.clear_scripts();
    let (status, problem) = problem_of(response?).await?;
    c.say(format!("   HubSpot answered 400 {vendor_body}"));
    c.say("   caller got (application/problem+json):");
    let pretty = serde_json::to_string_pretty(&problem).unwrap_or_default();
    for line in pretty.lines() {
        c.say(format!("     {line}"));
    }
    check(status == 400 && problem["status"] == 400, || {
        format!("status {status}")
    })?;
    check(
        problem["code"] == "invalid_request" && problem["retryable"] == false,
        || {
            format!(
                "code {} retryable {}",
                problem["code"], problem["retryable"]
            )
        },
    )?;
    check(problem["upstream"]["code"] == "VALIDATION_ERROR", || {
        format!("upstream.code {}", problem["upstream"]["code"])
    })?;
    check(problem["detail"] == vendor_body["message"], || {
        format!("detail {}", problem["detail"])
    })?;
    check(problem["connector"] == "hubspot", || {
        format!("connector {}", problem["connector"])
    })?;
    Ok("400 problem+json: code=invalid_request, upstream.code=VALIDATION_ERROR, detail = HubSpot's message".into())
}
