//! Steps on stored credentials: token injection, one refresh for many callers, a revoked
//! grant.

use std::time::Duration;

use reqwest::Method;
use tidegate_sandbox::echo::Echo;

use super::{Ctx, NotPassed, StepResult, check, upstream::problem_of};

/// Long-expired, so the first call must refresh.
const EXPIRED: &str = "2020-01-01T00:00:00Z";

/// A token as the demo prints it: never the value, only its shape.
pub fn masked(token: &str) -> String {
    format!("{} ({} chars)", "*".repeat(12), token.chars().count())
}

fn oauth_credentials(grant: &tidegate_sandbox::oauth::Grant, expired: bool) -> serde_json::Value {
    let mut c = serde_json::json!({
        "access_token": grant.access_token,
        "refresh_token": grant.refresh_token,
        "scope": "crm.objects.contacts.read",
    });
    if expired {
        c["expires_at"] = EXPIRED.into();
    } else {
        c["expires_in"] = 3600.into();
    }
    c
}

async fn echo_of(response: reqwest::Response) -> Result<(u16, Echo), NotPassed> {
    let status = response.status().as_u16();
    let text = response.text().await.map_err(|e| e.to_string())?;
    let echo =
        serde_json::from_str(&text).map_err(|_| format!("status {status}, not an echo: {text}"))?;
    Ok((status, echo))
}

/// Step 1.
pub async fn token_injection(c: &Ctx) -> StepResult {
    let grant = c.oauth.issue();
    c.put_account("acc_hub", "hubspot", oauth_credentials(&grant, false))
        .await?;
    c.say("   stored account acc_hub (hubspot, OAuth tokens encrypted in the vault)");
    let response = c
        .proxy(
            Method::GET,
            "/hubspot/echo/crm/v3/objects/contacts",
            Some("acc_hub"),
        )
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let (status, echo) = echo_of(response).await?;
    check(status == 200, || format!("status {status}"))?;
    let sent = echo.header("authorization").unwrap_or_default().to_owned();
    let expected = format!("Bearer {}", grant.access_token);
    c.say(format!(
        "   upstream saw  Authorization: Bearer {}",
        masked(sent.strip_prefix("Bearer ").unwrap_or(&sent))
    ));
    check(sent == expected, || {
        "the upstream did not receive the stored access token".into()
    })?;
    let leaked = echo
        .headers
        .values()
        .any(|v| v.to_string().contains(&c.api_key));
    check(!leaked, || {
        "the caller's environment key reached the upstream".into()
    })?;
    check(
        !echo.headers.contains_key("x-integrated-account-id"),
        || "X-Integrated-Account-Id was forwarded".into(),
    )?;
    Ok("200; upstream got the stored token as Bearer (masked); caller key and account header not forwarded".into())
}

/// Step 2.
pub async fn one_refresh_for_many(c: &Ctx) -> StepResult {
    const CALLERS: usize = 100;
    let grant = c.oauth.issue();
    c.put_account("acc_expired", "hubspot", oauth_credentials(&grant, true))
        .await?;
    c.say(format!(
        "   stored account acc_expired whose token expired at {EXPIRED}"
    ));
    let refreshes_before = c.oauth.refreshes();
    let token_calls_before = c.sandbox.counters().get("/oauth/token");
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..CALLERS {
        let request = c.proxy(Method::GET, "/hubspot/echo/expired", Some("acc_expired"));
        calls.spawn(async move {
            let response = request.send().await.map_err(|e| e.to_string())?;
            echo_of(response).await.map_err(|e| format!("{e:?}"))
        });
    }
    let mut ok = 0;
    let mut tokens = std::collections::HashSet::new();
    while let Some(joined) = calls.join_next().await {
        let (status, echo) = joined.map_err(|e| e.to_string())??;
        if status == 200 {
            ok += 1;
        }
        tokens.insert(echo.header("authorization").unwrap_or_default().to_owned());
    }
    let refreshes = c.oauth.refreshes() - refreshes_before;
    let token_calls = c.sandbox.counters().get("/oauth/token") - token_calls_before;
    c.say(format!(
        "   {ok}/{CALLERS} answered 200; token endpoint calls: {token_calls} ({refreshes} successful refresh); distinct tokens the upstream saw: {}",
        tokens.len()
    ));
    check(ok == CALLERS, || format!("only {ok}/{CALLERS} succeeded"))?;
    check(refreshes == 1, || {
        format!("{refreshes} refreshes, expected exactly 1")
    })?;
    check(
        tokens.len() == 1 && !tokens.contains(&format!("Bearer {}", grant.access_token)),
        || "callers did not all use the one refreshed token".into(),
    )?;
    let account = c.admin_get("accounts/acc_expired").await?;
    c.say(format!(
        "   GET /admin/accounts/acc_expired: status={} refresh_count={}",
        account["status"], account["refresh_count"]
    ));
    check(account["refresh_count"] == 1, || {
        format!("refresh_count {}", account["refresh_count"])
    })?;
    Ok(format!(
        "{CALLERS}/{CALLERS} succeeded with 1 refresh (refresh token rotated; refresh_count=1)"
    ))
}

/// Step 7.
pub async fn revoked_grant(c: &Ctx) -> StepResult {
    let grant = c.oauth.issue();
    c.put_account("acc_revoked", "hubspot", oauth_credentials(&grant, true))
        .await?;
    c.oauth.revoke(true);
    c.say("   the user revoked the app at the provider: every refresh now answers invalid_grant");
    let result = revoked_inner(c).await;
    c.oauth.revoke(false);
    result
}

async fn revoked_inner(c: &Ctx) -> StepResult {
    let before = c.sandbox.counters().get("/echo/revoked");
    let response = c
        .proxy(Method::GET, "/hubspot/echo/revoked", Some("acc_revoked"))
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let (status, problem) = problem_of(response).await?;
    c.say(format!(
        "   caller got {status} code={} retryable={}",
        problem["code"], problem["retryable"]
    ));
    check(
        status == 424 && problem["code"] == "needs_reauth" && problem["retryable"] == false,
        || format!("{status} {problem}"),
    )?;
    check(c.sandbox.counters().get("/echo/revoked") == before, || {
        "the upstream was called without a credential".into()
    })?;
    let account = c.admin_get("accounts/acc_revoked").await?;
    check(account["status"] == "needs_reauth", || {
        format!("account status {}", account["status"])
    })?;
    let events = c
        .wait_events(1, Duration::from_secs(10), |e| {
            e["type"] == "account.needs_reauth" && e["integrated_account_id"] == "acc_revoked"
        })
        .await;
    let event = events
        .first()
        .ok_or("no account.needs_reauth event reached the receiver within 10 s")?;
    c.say(format!(
        "   receiver verified the signature of {} {} for {}",
        event["type"], event["id"], event["integrated_account_id"]
    ));
    Ok("424 needs_reauth; account status needs_reauth; signed account.needs_reauth received and verified".into())
}
