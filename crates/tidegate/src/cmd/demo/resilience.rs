//! Steps on resilience: the circuit breaker's whole cycle, and a write retried safely with
//! the same idempotency key.

use reqwest::Method;
use tidegate_sandbox::Script;

use super::{
    Ctx, StepResult, check,
    progress::Spinner,
    setup::{BREAKER_FAILURES, OPEN_FOR},
    upstream::problem_of,
};

const STOCK: &str = "/v1/stock";

async fn call_stock(c: &Ctx) -> Result<(u16, Option<serde_json::Value>, String), String> {
    let response = c
        .proxy(Method::GET, &format!("/inventory{STOCK}"), None)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if status >= 400 {
        let (_, problem) = problem_of(response).await.map_err(|e| format!("{e:?}"))?;
        Ok((status, Some(problem), retry_after))
    } else {
        Ok((status, None, retry_after))
    }
}

/// The inventory breaker's `(state, retry_after_s)` from `GET /admin/breakers`.
async fn breaker_state(c: &Ctx) -> Result<(String, u64), String> {
    let breakers = c.admin_get("breakers").await?;
    breakers["breakers"]
        .as_array()
        .and_then(|all| all.iter().find(|b| b["connector"] == "inventory"))
        .and_then(|b| {
            Some((
                b["state"].as_str()?.to_owned(),
                b["retry_after_s"].as_u64()?,
            ))
        })
        .ok_or_else(|| format!("no inventory breaker in {breakers}"))
}

/// Step 4.
pub async fn breaker(c: &Ctx) -> StepResult {
    let result = breaker_inner(c).await;
    c.sandbox.clear_scripts();
    result
}

async fn breaker_inner(c: &Ctx) -> StepResult {
    let calls = || c.sandbox.counters().get(STOCK);
    c.sandbox
        .script(STOCK, Script::statuses("500").map_err(|e| e.to_string())?);
    c.say(format!("   the upstream starts answering 500 to {STOCK}"));
    for i in 1..=BREAKER_FAILURES {
        let (status, problem, _) = call_stock(c).await?;
        let code = problem
            .as_ref()
            .map(|p| p["code"].clone())
            .unwrap_or_default();
        c.say(format!("   call {i}: {status} code={code}"));
        check(status == 500 && code == "upstream_server_error", || {
            format!("call {i}: {status} {code}")
        })?;
    }
    let after_storm = calls();
    check(after_storm == u64::from(BREAKER_FAILURES), || {
        format!("upstream saw {after_storm} calls")
    })?;
    let (state, retry_after_s) = breaker_state(c).await?;
    c.say(format!(
        "   GET /admin/breakers: inventory is {state}, retry_after_s={retry_after_s}"
    ));
    check(state == "open", || {
        format!("breaker {state} after the storm")
    })?;
    for i in 1..=5 {
        let (status, problem, retry_after) = call_stock(c).await?;
        let code = problem
            .as_ref()
            .map(|p| p["code"].clone())
            .unwrap_or_default();
        check(
            status == 503 && code == "circuit_open" && !retry_after.is_empty(),
            || format!("call {i} while open: {status} {code} Retry-After {retry_after:?}"),
        )?;
        if i == 1 {
            c.say(format!(
                "   while open: 503 code={code} Retry-After: {retry_after} (x5)"
            ));
        }
    }
    check(calls() == after_storm, || {
        format!("the upstream was called while open ({} calls)", calls())
    })?;
    c.say(format!("   upstream calls stayed at {after_storm}"));

    c.sandbox
        .script(STOCK, Script::statuses("200").map_err(|e| e.to_string())?);
    c.say(format!(
        "   the upstream recovers; waiting open_for = {} ms",
        OPEN_FOR.as_millis()
    ));
    let spinner = Spinner::start("waiting for the breaker's open_for");
    tokio::time::sleep(OPEN_FOR + std::time::Duration::from_millis(100)).await;
    spinner.finish();
    // The breaker half-opens lazily: after open_for it reports `open` with nothing left to
    // wait (or `half_open`), and the next call is let through as the probe.
    let (state, retry_after_s) = breaker_state(c).await?;
    c.say(format!(
        "   after open_for: inventory is {state}, retry_after_s={retry_after_s} -> the next call is the probe"
    ));
    check(
        state == "half_open" || (state == "open" && retry_after_s == 0),
        || format!("breaker {state} with retry_after_s={retry_after_s} after open_for"),
    )?;
    let (status, _, _) = call_stock(c).await?;
    check(status == 200 && calls() == after_storm + 1, || {
        format!("probe: {status}, upstream calls {}", calls())
    })?;
    let (state, _) = breaker_state(c).await?;
    c.say(format!(
        "   probe reached the upstream ({} calls) and got 200 -> inventory is {state}",
        calls()
    ));
    check(state == "closed", || {
        format!("breaker {state} after a good probe")
    })?;
    let (status, _, _) = call_stock(c).await?;
    check(status == 200, || format!("after closing: {status}"))?;
    Ok(format!(
        "{BREAKER_FAILURES}x 500 -> open; 5x 503 circuit_open (upstream calls stayed {after_storm}); half_open after {} ms; probe 200 -> closed",
        OPEN_FOR.as_millis()
    ))
}

/// Step 5.
pub async fn idempotent_retry(c: &Ctx) -> StepResult {
    c.writes.clear();
    c.writes.reset_next(1);
    c.say("   the caller POSTs without a key; the upstream drops the first attempt's connection");
    let response = c
        .proxy(Method::POST, "/orders/v1/orders", None)
        .json(&serde_json::json!({ "amount": 4200, "currency": "eur" }))
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
    let keys = c.writes.keys();
    for (i, key) in keys.iter().enumerate() {
        c.say(format!("   attempt {}: Idempotency-Key: {key}", i + 1));
    }
    check(status == 201, || format!("status {status}: {body}"))?;
    check(keys.len() == 2, || {
        format!("{} attempts reached the upstream", keys.len())
    })?;
    check(keys[0] == keys[1] && keys[0] != "-", || {
        format!("attempt keys differ or are missing: {keys:?}")
    })?;
    let version = uuid::Uuid::parse_str(&keys[0]).map(|u| u.get_version_num());
    check(version == Ok(7), || {
        format!("key {} is not a UUIDv7", keys[0])
    })?;
    check(body["idempotency_key"] == keys[0].as_str(), || {
        format!("the order was created under {}", body["idempotency_key"])
    })?;
    Ok(format!(
        "attempt 1 reset, attempt 2 -> 201; both carried Idempotency-Key {}",
        keys[0]
    ))
}
