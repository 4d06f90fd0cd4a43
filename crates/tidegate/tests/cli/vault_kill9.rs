//! Fault test (issue 5): a gateway process is `kill -9`ed while it holds an account's Redis
//! refresh lock, stuck in the token call. Another process, sharing PostgreSQL and Redis, waits
//! for the dead holder's lock to expire (docs/credentials.md: "SET lock owner NX PX ttl (wait
//! if held)"), then refreshes with the SAME stored refresh token: the real OAuth server
//! (oidc-provider with rotation + reuse detection) sees exactly one successful refresh grant,
//! no error and no grant revocation, and the refresh token is not lost (a later forced refresh
//! works too).
//!
//! The fixture HOLDS the first token request before the provider processes it (so the dead
//! process never rotated the token) and drops it, counted as `held_aborted`, when the killed
//! process's socket closes, so it can never rotate the token behind the survivor's back.
//!
//! The lock TTL is not configurable in `tidegate.toml` (token timeout 10 s × 3 attempts +
//! 10 s = 40 s), so this test takes about 40 s.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use serde_json::Value;

use super::{
    free_port, serve,
    vault_multiprocess::{SharedServices, random_hex},
};

/// `redis-cli -u URL ARGS...`, trimmed stdout.
fn redis_cli(url: &str, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-u", url])
        .args(args)
        .output()
        .expect("redis-cli runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

async fn wait_ready(http: &reqwest::Client, port: u16) {
    for _ in 0..200 {
        if http
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gateway on port {port} did not become ready");
}

async fn stats(http: &reqwest::Client, oidc: &str) -> Value {
    http.get(format!("{oidc}/test/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls the fixture's stats until `pred` holds (20 s at most).
async fn wait_stats(http: &reqwest::Client, oidc: &str, what: &str, pred: impl Fn(&Value) -> bool) {
    for _ in 0..400 {
        if pred(&stats(http, oidc).await) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "fixture never reached: {what}; stats {}",
        stats(http, oidc).await
    );
}

#[test]
fn kill_9_of_the_lock_holder_mid_refresh_loses_no_refresh_token() {
    if Command::new("redis-cli").arg("--version").output().is_err() {
        eprintln!("SKIPPED: kill -9 mid-refresh vault test (redis-cli is not installed)");
        return;
    }
    // The connector's whole-call timeout outlasts the 40 s lock TTL, so the survivor's request
    // is not cut while it waits for the dead holder's lock.
    let Some(services) =
        SharedServices::start("kill -9 mid-refresh vault test", r#"timeout = "120s""#)
    else {
        return;
    };
    let runtime = &services.runtime;
    let (config, oidc, redis) = (
        services.config.clone(),
        services.oidc.clone(),
        services.redis.clone(),
    );

    let account = format!("acc_{}", random_hex());
    let lock_key = format!("tidegate:refresh-lock:{account}");
    let (port1, port2) = (free_port(), free_port());
    let mut gateway1 = serve(&config, port1);

    let result = runtime.block_on(async {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        wait_ready(&http, port1).await;
        let minted: Value = http.post(format!("{oidc}/test/mint")).send().await.unwrap().json().await.unwrap();
        assert!(http.post(format!("{oidc}/test/hold")).send().await.unwrap().status().is_success());
        let body = serde_json::json!({"connector": "idp", "environment": "production",
            "credentials": {"access_token": "expired", "refresh_token": minted["refresh_token"], "expires_at": "2020-01-01T00:00:00Z"}});
        let put = http.put(format!("http://127.0.0.1:{port1}/admin/accounts/{account}")).bearer_auth("adm").json(&body).send().await.unwrap();
        assert_eq!(put.status(), 201);

        // Process 1 refreshes (request path or its refresher): it takes the lock and is stuck
        // in the token call, which the fixture holds unprocessed.
        let doomed = http
            .get(format!("http://127.0.0.1:{port1}/proxy/idp/me"))
            .bearer_auth("pk")
            .header("x-integrated-account-id", &account)
            .send();
        let doomed = tokio::spawn(doomed);
        wait_stats(&http, &oidc, "process 1's token call is held", |s| s["holding"] == 1).await;
        assert_eq!(redis_cli(&redis, &["EXISTS", &lock_key]), "1", "process 1 holds the lock");
        let holder = redis_cli(&redis, &["GET", &lock_key]);

        // kill -9 process 1 while it holds the lock, mid-refresh.
        let pid = gateway1.0.id();
        assert!(Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap().success());
        let exit = gateway1.0.wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&exit), Some(9));
        assert!(doomed.await.unwrap().is_err(), "the killed process never answered");
        wait_stats(&http, &oidc, "the held request is dropped with its dead client", |s| {
            s["held_aborted"] == 1 && s["holding"] == 0
        })
        .await;
        // Nobody released the dead holder's lock: it is still there, with the same owner.
        assert_eq!(redis_cli(&redis, &["GET", &lock_key]), holder, "the dead holder's lock remains");
        let before = stats(&http, &oidc).await;
        assert_eq!((before["refresh_ok"].as_u64(), before["refresh_errors"].as_u64()), (Some(0), Some(0)), "{before}");

        // Process 2 starts and is asked for the account while the dead lock is still held.
        let gateway2 = serve(&config, port2);
        wait_ready(&http, port2).await;
        let remaining_ms: i64 = redis_cli(&redis, &["PTTL", &lock_key]).parse().unwrap();
        assert!(remaining_ms > 0, "lock still held when process 2 is asked (pttl {remaining_ms})");
        let started = Instant::now();
        let resp = http
            .get(format!("http://127.0.0.1:{port2}/proxy/idp/me"))
            .bearer_auth("pk")
            .header("x-integrated-account-id", &account)
            .send()
            .await
            .unwrap();
        let waited = started.elapsed();
        let status = resp.status().as_u16();
        let me: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "{me}");
        assert_eq!(me["sub"], "alice", "userinfo answered with the NEW access token");
        // It could not have refreshed before the dead holder's lock expired.
        assert!(
            waited + Duration::from_millis(200) >= Duration::from_millis(remaining_ms as u64),
            "process 2 answered after {waited:?}, before the lock's remaining {remaining_ms} ms"
        );
        assert_eq!(redis_cli(&redis, &["EXISTS", &lock_key]), "0", "process 2 released its lock");

        let after = stats(&http, &oidc).await;
        let account_url = format!("http://127.0.0.1:{port2}/admin/accounts/{account}");
        let shown: Value = http.get(&account_url).bearer_auth("adm").send().await.unwrap().json().await.unwrap();

        // The held request is gone: releasing now lets nothing through.
        let released: Value = http.post(format!("{oidc}/test/release")).send().await.unwrap().json().await.unwrap();
        // The stored (rotated) refresh token still works: the grant was never revoked.
        let forced = http.post(format!("{account_url}/refresh")).bearer_auth("adm").send().await.unwrap();
        let forced_status = forced.status().as_u16();
        let again = http
            .get(format!("http://127.0.0.1:{port2}/proxy/idp/me"))
            .bearer_auth("pk")
            .header("x-integrated-account-id", &account)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        let last = stats(&http, &oidc).await;
        let shown_last: Value = http.get(&account_url).bearer_auth("adm").send().await.unwrap().json().await.unwrap();
        drop(gateway2);
        (waited, after, shown, released, forced_status, again, last, shown_last)
    });
    drop(services); // drops the schema
    let (waited, after, shown, released, forced_status, again, last, shown_last) = result;
    eprintln!("process 2 answered after {waited:?} (waited for the dead holder's lock TTL)");

    assert_eq!(
        after["refresh_ok"], 1,
        "exactly one successful refresh grant: {after}"
    );
    assert_eq!(after["refresh_errors"], 0, "no invalid_grant: {after}");
    assert_eq!(after["grants_revoked"], 0, "no grant revocation: {after}");
    assert_eq!(after["held_aborted"], 1, "{after}");
    assert_eq!(after["held_released"], 0, "{after}");
    assert_eq!(shown["status"], "active", "{shown}");
    assert_eq!(shown["refresh_count"], 1, "{shown}");

    assert_eq!(released["released"], 0, "nothing was left held: {released}");
    assert_eq!(forced_status, 200, "a later forced refresh works");
    assert_eq!(again, 200);
    assert_eq!(last["refresh_ok"], 2, "{last}");
    assert_eq!(last["refresh_errors"], 0, "{last}");
    assert_eq!(last["grants_revoked"], 0, "{last}");
    assert_eq!(last["held_released"], 0, "{last}");
    assert_eq!(shown_last["status"], "active", "{shown_last}");
    assert_eq!(shown_last["refresh_count"], 2, "{shown_last}");
}
