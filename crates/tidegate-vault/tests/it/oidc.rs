//! Interop against a REAL OAuth server that rotates refresh tokens and revokes the whole grant
//! when a rotated-out refresh token is presented again: npm `oidc-provider` 9
//! (`tests/fixtures/oidc/server.mjs`). A refresh race therefore fails loudly here.
//!
//! The fixture is installed with `npm ci` on first use and started on 127.0.0.1:0; it is killed
//! (by its own PID, via `kill_on_drop`) when the test ends.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::Arc,
    time::Duration,
};

use tidegate_core::{Body, Error, ErrorCode, RequestContext};
use tidegate_crypto::MasterKey;
use tidegate_vault::{
    CredentialLayer, EventSink, Vault, VaultOptions,
    events::{WebhookEventSink, WebhookTarget},
    lock::RefreshLock,
    store::{AccountStatus, Store},
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tower::{ServiceBuilder, ServiceExt, service_fn};

use crate::support::{
    CollectingSink, PgSchema, RedisFixture, expired_oauth, fast_options, local_lock, sqlite_store,
};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The running oidc-provider fixture.
pub struct Oidc {
    pub base: String,
    _child: tokio::process::Child,
    http: reqwest::Client,
}

impl Oidc {
    /// Installs (if needed) and starts the fixture; `None` (with a SKIPPED line) without node.
    pub async fn start() -> Option<Self> {
        let dir = repo_root().join("tests/fixtures/oidc");
        if std::process::Command::new("node")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("SKIPPED: oidc-provider interop (node is not installed)");
            return None;
        }
        if !dir.join("node_modules/oidc-provider").exists() {
            let status = tokio::process::Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .status()
                .await
                .expect("npm runs");
            assert!(status.success(), "npm ci in {} failed", dir.display());
        }
        let mut child = tokio::process::Command::new("node")
            .args(["server.mjs", "0"])
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(p) = line.strip_prefix("LISTENING ") {
                    return p.trim().parse::<u16>().unwrap();
                }
            }
            panic!("oidc fixture exited before listening");
        })
        .await
        .expect("oidc fixture did not start within 20 s");
        eprintln!(
            "oidc-provider fixture listening on 127.0.0.1:{port} (pid {:?})",
            child.id()
        );
        Some(Self {
            base: format!("http://127.0.0.1:{port}"),
            _child: child,
            http: reqwest::Client::new(),
        })
    }

    pub fn token_url(&self) -> String {
        format!("{}/token", self.base)
    }

    /// A fresh grant with a first refresh token.
    pub async fn mint(&self) -> String {
        let v: serde_json::Value = self
            .http
            .post(format!("{}/test/mint", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["refresh_token"].as_str().unwrap().to_owned()
    }

    /// Refresh-token grants seen (successful + failed).
    pub async fn refresh_grants(&self) -> u64 {
        let v: serde_json::Value = self
            .http
            .get(format!("{}/test/stats", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["refresh_grants"].as_u64().unwrap()
    }

    /// Presents `refresh_token` directly (as an attacker or a racing client would).
    pub async fn refresh_directly(&self, refresh_token: &str) -> (u16, serde_json::Value) {
        let resp = self
            .http
            .post(self.token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("grant_type=refresh_token&refresh_token={refresh_token}&client_id=tidegate&client_secret=tidegate-fixture-secret"))
            .send()
            .await
            .unwrap();
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or_default(),
        )
    }

    /// A connector stack whose "upstream" is the provider's own userinfo endpoint (`/me`),
    /// which accepts only currently valid access tokens.
    pub fn userinfo_stack(
        &self,
        vault: &Vault,
    ) -> impl tower::Service<
        http::Request<Body>,
        Response = http::Response<Body>,
        Error = Error,
        Future: Send,
    > + Clone
    + Send
    + 'static {
        let (http, me) = (self.http.clone(), format!("{}/me", self.base));
        let upstream = service_fn(move |req: http::Request<Body>| {
            let (http, me) = (http.clone(), me.clone());
            async move {
                let mut call = http.get(&me);
                if let Some(auth) = req.headers().get("authorization") {
                    call = call.header("authorization", auth.clone());
                }
                let resp = call.send().await.map_err(|e| {
                    Error::new(ErrorCode::UpstreamUnavailable, "userinfo").with_source(e)
                })?;
                Ok::<_, Error>(
                    http::Response::builder()
                        .status(resp.status().as_u16())
                        .body(tidegate_core::body::empty())
                        .unwrap(),
                )
            }
        });
        ServiceBuilder::new()
            .layer(CredentialLayer::new(
                vault.clone(),
                "crm",
                vault.connector_auth("crm").unwrap().clone(),
            ))
            .service(upstream)
    }
}

pub fn req(account: &str) -> http::Request<Body> {
    let mut r = http::Request::new(tidegate_core::body::empty());
    r.extensions_mut().insert(
        RequestContext::new("crm")
            .with_account(account)
            .with_environment("production"),
    );
    r
}

fn build(
    store: Arc<dyn Store>,
    lock: Arc<dyn RefreshLock>,
    kek: MasterKey,
    oidc: &Oidc,
    events: Arc<dyn EventSink>,
    opts: VaultOptions,
) -> Vault {
    crate::support::vault(store, lock, kek, &oidc.token_url(), events, opts)
}

/// (a) 200 concurrent callers, one expired account, one vault: exactly one refresh grant.
#[tokio::test]
async fn a_200_concurrent_callers_cause_exactly_one_refresh() {
    let Some(oidc) = Oidc::start().await else {
        return;
    };
    let (_d, store, _) = sqlite_store().await;
    let v = build(
        store,
        local_lock(),
        MasterKey::generate(),
        &oidc,
        Arc::new(CollectingSink::default()),
        fast_options(),
    );
    v.put_account("acc_1", expired_oauth("expired-at", &oidc.mint().await))
        .await
        .unwrap();
    let stack = oidc.userinfo_stack(&v);
    let joins: Vec<_> = (0..200)
        .map(|_| tokio::spawn(stack.clone().oneshot(req("acc_1"))))
        .collect();
    for j in joins {
        assert_eq!(j.await.unwrap().unwrap().status(), 200);
    }
    assert_eq!(
        oidc.refresh_grants().await,
        1,
        "the server saw exactly one refresh"
    );
    assert_eq!(v.account("acc_1").await.unwrap().unwrap().refresh_count, 1);
}

/// (b) Three independent vaults (separate pools, coalescers, Redis connections) sharing
/// PostgreSQL and Redis, 200 callers spread over them: exactly one refresh grant.
#[tokio::test]
async fn b_three_vaults_sharing_postgres_and_redis_cause_exactly_one_refresh() {
    let Some(oidc) = Oidc::start().await else {
        return;
    };
    let Some(pg) = PgSchema::new().await else {
        return;
    };
    let Some(redis) = RedisFixture::new() else {
        return;
    };
    let kek = MasterKey::generate();
    let opts = VaultOptions {
        lock_prefix: redis.prefix.clone(),
        ..fast_options()
    };
    let mut vaults = Vec::new();
    for _ in 0..3 {
        let store: Arc<dyn Store> = pg.another_store().await;
        let lock: Arc<dyn RefreshLock> =
            Arc::new(tidegate_vault::lock::RedisLock::new(&redis.url).unwrap());
        vaults.push(build(
            store,
            lock,
            kek.clone(),
            &oidc,
            Arc::new(CollectingSink::default()),
            opts.clone(),
        ));
    }
    vaults[0]
        .put_account("acc_1", expired_oauth("expired-at", &oidc.mint().await))
        .await
        .unwrap();
    let stacks: Vec<_> = vaults.iter().map(|v| oidc.userinfo_stack(v)).collect();
    let joins: Vec<_> = (0..200)
        .map(|i| tokio::spawn(stacks[i % 3].clone().oneshot(req("acc_1"))))
        .collect();
    for j in joins {
        assert_eq!(j.await.unwrap().unwrap().status(), 200);
    }
    assert_eq!(
        oidc.refresh_grants().await,
        1,
        "one refresh across three vaults"
    );
    let refreshes: u64 = vaults
        .iter()
        .map(|v| {
            v.stats()
                .refreshes
                .load(std::sync::atomic::Ordering::SeqCst)
        })
        .sum();
    assert_eq!(refreshes, 1);
    assert_eq!(
        vaults[2]
            .account("acc_1")
            .await
            .unwrap()
            .unwrap()
            .refresh_count,
        1
    );
}

/// (c) The grant is revoked (a rotated-out refresh token is replayed, which makes the server
/// revoke the family). The next refresh marks the account needs_reauth; callers get 424 without
/// the provider being called again; the signed event verifies with Python `standardwebhooks`.
#[tokio::test]
async fn c_a_revoked_grant_marks_needs_reauth_and_emits_a_verifiable_event() {
    let Some(oidc) = Oidc::start().await else {
        return;
    };
    let hook = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/events"))
        .respond_with(wiremock::ResponseTemplate::new(204))
        .mount(&hook)
        .await;
    let secret = format!("whsec_{}", base64_of(&rand_bytes(32)));
    let sink = WebhookEventSink::new(
        [(
            "production".to_owned(),
            WebhookTarget {
                url: format!("{}/events", hook.uri()),
                secret: secret.clone().into(),
            },
        )]
        .into(),
    );
    let (_d, store, _) = sqlite_store().await;
    let v = build(
        store,
        local_lock(),
        MasterKey::generate(),
        &oidc,
        Arc::new(sink),
        fast_options(),
    );
    let rt0 = oidc.mint().await;
    v.put_account("acc_1", expired_oauth("expired-at", &rt0))
        .await
        .unwrap();
    let stack = oidc.userinfo_stack(&v);
    assert_eq!(
        stack.clone().oneshot(req("acc_1")).await.unwrap().status(),
        200
    );
    assert_eq!(oidc.refresh_grants().await, 1);

    // Replay RT0 (already rotated): the server revokes the grant, killing RT1 and the access token.
    let (status, body) = oidc.refresh_directly(&rt0).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(oidc.refresh_grants().await, 2);

    // Next call: upstream 401 → one forced refresh → invalid_grant → needs_reauth.
    let err = stack.clone().oneshot(req("acc_1")).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NeedsReauth);
    assert_eq!(err.code().status().as_u16(), 424);
    assert_eq!(oidc.refresh_grants().await, 3);
    let info = v.account("acc_1").await.unwrap().unwrap();
    assert_eq!(info.status, AccountStatus::NeedsReauth);
    assert_eq!(info.status_reason.as_deref(), Some("invalid_grant"));

    // Callers keep getting needs_reauth; the provider is never asked again.
    for _ in 0..20 {
        assert_eq!(
            stack
                .clone()
                .oneshot(req("acc_1"))
                .await
                .unwrap_err()
                .code(),
            ErrorCode::NeedsReauth
        );
    }
    v.invalidate("acc_1");
    assert_eq!(
        stack
            .clone()
            .oneshot(req("acc_1"))
            .await
            .unwrap_err()
            .code(),
        ErrorCode::NeedsReauth
    );
    assert!(v.refresh_now("acc_1").await.is_err());
    assert_eq!(
        oidc.refresh_grants().await,
        3,
        "no refresh attempts after needs_reauth"
    );

    // The event arrives signed; the official Python library verifies it.
    let mut captured = None;
    for _ in 0..100 {
        let received = hook.received_requests().await.unwrap_or_default();
        if let Some(r) = received
            .into_iter()
            .find(|r| String::from_utf8_lossy(&r.body).contains("\"account.needs_reauth\""))
        {
            captured = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let captured = captured.expect("account.needs_reauth was delivered");
    let body: serde_json::Value = serde_json::from_slice(&captured.body).unwrap();
    assert_eq!(body["type"], "account.needs_reauth");
    assert_eq!(body["integrated_account_id"], "acc_1");
    assert_eq!(body["environment"], "production");
    assert_eq!(body["connector"], "crm");
    assert_eq!(body["data"]["reason"], "invalid_grant");
    assert!(!String::from_utf8_lossy(&captured.body).contains(&rt0));
    let header = |n: &str| {
        captured
            .headers
            .get(n)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    let capture = serde_json::json!({
        "headers": { "webhook-id": header("webhook-id"), "webhook-timestamp": header("webhook-timestamp"), "webhook-signature": header("webhook-signature") },
        "body": String::from_utf8(captured.body.clone()).unwrap(),
    });
    let Some(python) = python_with_standardwebhooks().await else {
        return;
    };
    let (ok, out) = verify_with_python(&python, &secret, &capture).await;
    assert!(ok, "standardwebhooks rejected our signature: {out}");
    assert!(out.contains("verified account.needs_reauth"), "{out}");
    // And the verifier can fail: a tampered body is rejected.
    let mut tampered = capture.clone();
    tampered["body"] = capture["body"]
        .as_str()
        .unwrap()
        .replace("acc_1", "acc_2")
        .into();
    assert!(!verify_with_python(&python, &secret, &tampered).await.0);
}

fn rand_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    tidegate_crypto::fill_random(&mut b);
    b
}

fn base64_of(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// `tests/fixtures/py/.venv/bin/python`, creating the venv with `standardwebhooks` if missing.
pub async fn python_with_standardwebhooks() -> Option<PathBuf> {
    let dir = repo_root().join("tests/fixtures/py");
    let python = dir.join(".venv/bin/python");
    let ready = |p: &Path| {
        std::process::Command::new(p)
            .args(["-c", "import standardwebhooks"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ready(&python) {
        return Some(python);
    }
    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: Python standardwebhooks verification (python3 is not installed)");
        return None;
    }
    let ok = tokio::process::Command::new("python3")
        .args(["-m", "venv", ".venv"])
        .current_dir(&dir)
        .status()
        .await
        .unwrap()
        .success()
        && tokio::process::Command::new(dir.join(".venv/bin/pip"))
            .args(["install", "-q", "-r", "requirements.txt"])
            .current_dir(&dir)
            .status()
            .await
            .unwrap()
            .success();
    assert!(
        ok && ready(&python),
        "could not create {}/.venv with standardwebhooks",
        dir.display()
    );
    Some(python)
}

async fn verify_with_python(
    python: &Path,
    secret: &str,
    capture: &serde_json::Value,
) -> (bool, String) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec(capture).unwrap()).unwrap();
    let script = repo_root().join("tests/fixtures/py/verify_standard_webhook.py");
    let out = tokio::process::Command::new(python)
        .arg(script)
        .arg(secret)
        .arg(file.path())
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
