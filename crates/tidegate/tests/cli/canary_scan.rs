//! Gateway-level canary scan (issues 5 and 6): the real `tidegate serve` binary (SQLite, local
//! locks, boundary log to a FILE with `body_sample_rate = 1.0`, debug process logs) handles
//! traffic carrying unique canary secrets — the stored OAuth access and refresh tokens (real
//! oidc-provider fixture), the connector's client_secret, an api_key account's key, the
//! environment's webhook secret, the admin key, the caller's Authorization, a Cookie, a query
//! `access_token=`, and `email`/`ssn`/`password` in a request body and in an upstream ERROR
//! body — including a forced refresh and an upstream 401 → refresh-and-retry. Then every place
//! a secret could surface is scanned: the boundary log files, the process's stdout and stderr,
//! a `/metrics` scrape, every response (status line, headers, body) the caller received, and
//! the SQLite database files (`-wal`, `-shm` included; they hold ciphertext only). No canary
//! may be found anywhere.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::Stdio,
    time::Duration,
};

use serde_json::{Value, json};

use super::{
    Killed, free_port, tidegate,
    vault_multiprocess::{random_hex, start_oidc_fixture},
};

/// A unique canary: its random hex part is what the scan looks for.
fn canary(label: &str) -> String {
    format!("{label}{}{}", random_hex(), random_hex())
}

/// Everything the caller received for one call, as text.
async fn transcript(what: &str, resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let mut text = format!("== {what}: {status}\n");
    for (name, value) in resp.headers() {
        text.push_str(&format!(
            "{name}: {}\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    text.push_str(&resp.text().await.unwrap());
    text.push('\n');
    (status, text)
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn no_canary_secret_surfaces_in_logs_metrics_responses_or_the_database() {
    let client_secret = canary("clientsecret");
    let Some((_node, oidc)) = start_oidc_fixture(&[("OIDC_CLIENT_SECRET", &client_secret)]) else {
        return;
    };
    let mut sandbox = tidegate()
        .args(["sandbox", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut upstream = String::new();
    BufReader::new(sandbox.stdout.take().unwrap())
        .read_line(&mut upstream)
        .unwrap();
    let _sandbox = Killed(sandbox);
    let upstream = upstream.trim().to_owned();

    let access_token = canary("accesstoken");
    let api_key = canary("apikey");
    let env_key = canary("envkey");
    let admin_key = canary("adminkey");
    let cookie = canary("cookie");
    let query_token = canary("querytoken");
    let (req_email, req_ssn, req_password) =
        (canary("reqemail"), canary("reqssn"), canary("reqpw"));
    let (up_email, up_ssn, up_password) = (canary("upemail"), canary("upssn"), canary("uppw"));
    let webhook_secret_text = canary("webhooksecret");
    let webhook_secret = format!(
        "whsec_{}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            &webhook_secret_text
        )
    );

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&logs).unwrap();
    let key = dir.path().join("master.key");
    assert!(
        tidegate()
            .args(["keys", "init", "--out"])
            .arg(&key)
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
    );
    let config = dir.path().join("tidegate.toml");
    std::fs::write(
        &config,
        format!(
            r#"[server]
admin_key = "{admin_key}"
[storage]
url = "sqlite://{db}"
[locks]
url = "local"
[keys]
path = "{key}"
[logging]
file = "{log}"
body_sample_rate = 1.0
[environments.production]
api_keys = ["{env_key}"]
webhook_url = "{upstream}/echo/events"
webhook_secret = "{webhook_secret}"
[connectors.idp]
base_url = "{oidc}"
auth = {{ type = "oauth2", client_id = "tidegate", client_secret = "{client_secret}", token_url = "{oidc}/token" }}
[connectors.crm]
base_url = "{upstream}"
auth = {{ type = "api_key" }}
"#,
            db = data.join("tidegate.db").display(),
            key = key.display(),
            log = logs.join("boundary.log").display(),
        ),
    )
    .unwrap();

    let port = free_port();
    let stdout_path = dir.path().join("serve.stdout");
    let stderr_path = dir.path().join("serve.stderr");
    let mut serve = tidegate()
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--config",
        ])
        .arg(&config)
        .env("TIDEGATE_LOG", "debug")
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();

    let gw = format!("http://127.0.0.1:{port}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (received, metrics_text, refresh_token, issued) = runtime.block_on(async {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut up = false;
        for _ in 0..200 {
            if http.get(format!("{gw}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(up, "tidegate serve did not become ready");
        let mut received = String::new();
        let mut record = |(status, text): (u16, String)| {
            received.push_str(&text);
            status
        };

        // Upstream scripts: a plain success, and an error whose body carries personal data.
        for script in [
            json!({"path": "/v1/contacts", "steps": [{"status": 201, "body": {"id": "c_1"}}]}),
            json!({"path": "/v1/fail", "steps": [{"status": 422, "body": {"error": "invalid_contact",
                "message": "contact rejected", "email": up_email, "ssn": up_ssn, "password": up_password}}]}),
        ] {
            let r = http.post(format!("{upstream}/_sandbox/script")).json(&script).send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        }

        // Accounts: OAuth (access token not expired but unknown to the provider → 401 → refresh
        // and retry) and api_key.
        let minted: Value = http.post(format!("{oidc}/test/mint")).send().await.unwrap().json().await.unwrap();
        let refresh_token = minted["refresh_token"].as_str().unwrap().to_owned();
        let put = http.put(format!("{gw}/admin/accounts/acc_oauth")).bearer_auth(&admin_key)
            .json(&json!({"connector": "idp", "environment": "production", "credentials": {
                "access_token": access_token, "refresh_token": refresh_token,
                "expires_at": "2099-01-01T00:00:00Z"}}))
            .send().await.unwrap();
        assert_eq!(record(transcript("put oauth", put).await), 201);
        let put = http.put(format!("{gw}/admin/accounts/acc_key")).bearer_auth(&admin_key)
            .json(&json!({"connector": "crm", "environment": "production", "credentials": {"api_key": api_key}}))
            .send().await.unwrap();
        assert_eq!(record(transcript("put api key", put).await), 201);

        // Upstream 401 → forced refresh → retry with the new token.
        // (No query token here: the provider refuses a token given two ways.)
        let me = http.get(format!("{gw}/proxy/idp/me"))
            .bearer_auth(&env_key).header("x-integrated-account-id", "acc_oauth")
            .header("cookie", format!("session={cookie}"))
            .send().await.unwrap();
        let (status, text) = transcript("proxy idp /me (401 → refresh → retry)", me).await;
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("\"sub\":\"alice\""), "{text}");
        record((status, text));
        // Forced refresh through the admin API.
        let forced = http.post(format!("{gw}/admin/accounts/acc_oauth/refresh")).bearer_auth(&admin_key).send().await.unwrap();
        assert_eq!(record(transcript("forced refresh", forced).await), 200);
        let shown = http.get(format!("{gw}/admin/accounts/acc_oauth")).bearer_auth(&admin_key).send().await.unwrap();
        let (status, text) = transcript("show oauth account", shown).await;
        assert_eq!(status, 200);
        assert!(text.contains("\"refresh_count\":2"), "one 401-driven and one forced refresh: {text}");
        record((status, text));
        let stats: Value = http.get(format!("{oidc}/test/stats")).send().await.unwrap().json().await.unwrap();
        assert_eq!((stats["refresh_ok"].as_u64(), stats["refresh_errors"].as_u64()), (Some(2), Some(0)), "{stats}");

        // api_key connector: a body with personal data (success), then an upstream error with
        // personal data in its body (→ problem response).
        let body = json!({"name": "Ada", "email": req_email, "ssn": req_ssn, "password": req_password});
        let ok = http.post(format!("{gw}/proxy/crm/v1/contacts?access_token={query_token}"))
            .bearer_auth(&env_key).header("x-integrated-account-id", "acc_key")
            .header("cookie", format!("session={cookie}"))
            .json(&body).send().await.unwrap();
        assert_eq!(record(transcript("proxy crm create", ok).await), 201);
        let failed = http.post(format!("{gw}/proxy/crm/v1/fail?access_token={query_token}"))
            .bearer_auth(&env_key).header("x-integrated-account-id", "acc_key")
            .header("cookie", format!("session={cookie}"))
            .json(&body).send().await.unwrap();
        let (status, text) = transcript("proxy crm error", failed).await;
        assert_eq!(status, 422, "{text}");
        assert!(text.contains("application/problem+json"), "{text}");
        assert!(text.contains(r#""email":"[REDACTED]""#), "the upstream body, redacted: {text}");
        record((status, text));
        // A gateway problem (unknown account) and an unauthorised caller.
        let missing = http.get(format!("{gw}/proxy/crm/v1/contacts")).bearer_auth(&env_key)
            .header("x-integrated-account-id", "acc_none").send().await.unwrap();
        assert!(record(transcript("proxy unknown account", missing).await) >= 400);
        let denied = http.get(format!("{gw}/proxy/crm/v1/contacts")).bearer_auth(format!("{env_key}x"))
            .header("x-integrated-account-id", "acc_key").send().await.unwrap();
        assert_eq!(record(transcript("proxy bad caller key", denied).await), 401);

        let metrics = http.get(format!("{gw}/metrics")).bearer_auth(&admin_key).send().await.unwrap();
        let (status, metrics_text) = transcript("metrics", metrics).await;
        assert_eq!(status, 200, "{metrics_text}");
        // The webhook secret was in use: the refreshes' `account.refreshed` events were signed
        // with it and delivered (to the sandbox's echo).
        let mut delivered = 0;
        for _ in 0..100 {
            let counters: Value = http
                .get(format!("{upstream}/_sandbox/counters"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            delivered = counters["/echo/events"].as_u64().unwrap_or(0);
            if delivered >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(delivered >= 2, "signed account.refreshed deliveries: {delivered}");
        // Every token the provider issued (minted + both refreshes' rotated pairs).
        let issued: Value = http
            .get(format!("{oidc}/test/issued"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let issued: Vec<String> = issued["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect();
        assert!(issued.contains(&refresh_token), "{issued:?}");
        assert_eq!(issued.len(), 5, "minted refresh token + two refreshes × (access, refresh)");
        (received, metrics_text, refresh_token, issued)
    });
    // Graceful stop, so every log line is flushed.
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &serve.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(serve.wait().unwrap().code(), Some(0));

    // The scan must be able to fail: the exchanges were logged, with bodies, and the
    // database exists.
    let log_files = files_under(&logs);
    let boundary: Vec<u8> = log_files
        .iter()
        .flat_map(|p| std::fs::read(p).unwrap())
        .collect();
    let boundary_text = String::from_utf8_lossy(&boundary);
    assert!(
        boundary_text.contains("/v1/fail") && boundary_text.contains("/me"),
        "{boundary_text}"
    );
    assert!(
        boundary_text.contains("Ada"),
        "request bodies are sampled into the log"
    );
    assert!(
        boundary_text.contains("contact rejected"),
        "upstream error bodies are sampled too"
    );
    for marker in [
        r#""email":"[REDACTED]""#,
        r#""password":"[REDACTED]""#,
        "access_token=[REDACTED]",
        r#""cookie":"[REDACTED]""#,
        r#""outcome":"upstream_unauthorized""#,
    ] {
        assert!(
            boundary_text.contains(marker),
            "{marker} in {boundary_text}"
        );
    }
    // The scanner finds a canary where one legitimately is (the config file).
    assert!(contains(&std::fs::read(&config).unwrap(), &client_secret));
    let db_files: Vec<_> = files_under(&data);
    assert!(
        db_files.iter().any(|p| p.ends_with("tidegate.db")),
        "{db_files:?}"
    );
    assert!(metrics_text.contains("tidegate_"), "{metrics_text}");

    let mut sources: Vec<(String, Vec<u8>)> = vec![
        ("caller responses".into(), received.into_bytes()),
        ("/metrics".into(), metrics_text.into_bytes()),
        ("serve stdout".into(), std::fs::read(&stdout_path).unwrap()),
        ("serve stderr".into(), std::fs::read(&stderr_path).unwrap()),
    ];
    for p in log_files.iter().chain(&db_files) {
        sources.push((p.display().to_string(), std::fs::read(p).unwrap()));
    }
    let issued_canaries: Vec<(String, &str)> = issued
        .iter()
        .map(|t| ("a provider-issued token".to_owned(), t.as_str()))
        .collect();
    let canaries = [
        ("stored access token", access_token.as_str()),
        ("stored refresh token", refresh_token.as_str()),
        ("client_secret", client_secret.as_str()),
        ("api_key account key", api_key.as_str()),
        ("env api key (caller Authorization)", env_key.as_str()),
        ("admin key", admin_key.as_str()),
        ("webhook secret (text)", webhook_secret_text.as_str()),
        ("webhook secret (whsec_)", webhook_secret.as_str()),
        ("cookie", cookie.as_str()),
        ("query access_token", query_token.as_str()),
        ("request email", req_email.as_str()),
        ("request ssn", req_ssn.as_str()),
        ("request password", req_password.as_str()),
        ("upstream error email", up_email.as_str()),
        ("upstream error ssn", up_ssn.as_str()),
        ("upstream error password", up_password.as_str()),
    ];
    for (name, bytes) in &sources {
        eprintln!("scanned {name}: {} bytes", bytes.len());
    }
    let mut found = Vec::new();
    let canaries = canaries
        .into_iter()
        .map(|(what, secret)| (what.to_owned(), secret))
        .chain(issued_canaries);
    for (what, secret) in canaries {
        for (name, bytes) in &sources {
            if contains(bytes, secret) {
                found.push(format!("{what} found in {name}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "canary secrets leaked:\n{}",
        found.join("\n")
    );
}
