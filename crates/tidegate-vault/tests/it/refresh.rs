//! Refresh behaviour against a scripted token endpoint (wiremock): coalescing, rotation,
//! failure classes, the credential layer and the proactive refresher.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tidegate_core::{Body, Error, ErrorCode, RequestContext};
use tidegate_crypto::MasterKey;
use tidegate_vault::{
    CredentialLayer, Vault, VaultError, VaultOptions, credentials::Credentials,
    store::AccountStatus,
};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers};

use crate::support::{
    CollectingSink, expired_oauth, fast_options, local_lock, put_oauth, sqlite_store, vault,
};

/// A token endpoint answering from a script (then repeating the last answer), numbering the
/// tokens it issues and recording the refresh tokens it was sent.
pub struct ScriptedTokens {
    script: Mutex<VecDeque<ResponseTemplate>>,
    last: Mutex<Option<ResponseTemplate>>,
    pub calls: AtomicUsize,
    pub seen_refresh_tokens: Mutex<Vec<String>>,
    rotate: bool,
    prefix: String,
}

impl ScriptedTokens {
    pub fn issuing(prefix: &str, rotate: bool) -> Arc<Self> {
        Arc::new(Self {
            script: Mutex::new(VecDeque::new()),
            last: Mutex::new(None),
            calls: AtomicUsize::new(0),
            seen_refresh_tokens: Mutex::new(Vec::new()),
            rotate,
            prefix: prefix.into(),
        })
    }

    pub fn then(self: &Arc<Self>, t: ResponseTemplate) -> Arc<Self> {
        self.script.lock().unwrap().push_back(t);
        self.clone()
    }

    pub async fn mount(self: &Arc<Self>) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(matchers::method("POST"))
            .and(matchers::path("/token"))
            .respond_with(Shared(self.clone()))
            .mount(&server)
            .await;
        server
    }
}

struct Shared(Arc<ScriptedTokens>);

impl Respond for Shared {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let s = &self.0;
        let n = s.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let form: Vec<(String, String)> = form_urlencoded::parse(&req.body).into_owned().collect();
        if let Some((_, rt)) = form.iter().find(|(k, _)| k == "refresh_token") {
            s.seen_refresh_tokens.lock().unwrap().push(rt.clone());
        }
        if let Some(t) = s.script.lock().unwrap().pop_front() {
            *s.last.lock().unwrap() = Some(t.clone());
            return t;
        }
        let mut body = serde_json::json!({ "access_token": format!("{}-at-{n}", s.prefix), "expires_in": 3600, "token_type": "Bearer" });
        if s.rotate {
            body["refresh_token"] = format!("{}-rt-{n}", s.prefix).into();
        }
        ResponseTemplate::new(200).set_body_json(body)
    }
}

pub fn token_url(server: &MockServer) -> String {
    format!("{}/token", server.uri())
}

fn ctx_req(account: &str, env: &str) -> http::Request<Body> {
    let mut req = http::Request::builder()
        .uri("https://upstream.example/v1/me")
        .body(tidegate_core::body::empty())
        .unwrap();
    req.extensions_mut().insert(
        RequestContext::new("crm")
            .with_account(account)
            .with_environment(env),
    );
    req
}

/// An upstream that accepts only `Bearer <valid>` tokens (the set is shared with the test).
fn upstream(
    valid: Arc<Mutex<Vec<String>>>,
    hits: Arc<AtomicUsize>,
) -> impl Service<http::Request<Body>, Response = http::Response<Body>, Error = Error, Future: Send>
+ Clone
+ Send {
    service_fn(move |req: http::Request<Body>| {
        let valid = valid.clone();
        hits.fetch_add(1, Ordering::SeqCst);
        async move {
            let auth = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let ok = valid
                .lock()
                .unwrap()
                .iter()
                .any(|t| auth == format!("Bearer {t}"));
            let status = if ok { 200 } else { 401 };
            Ok::<_, Error>(
                http::Response::builder()
                    .status(status)
                    .body(tidegate_core::body::full(auth))
                    .unwrap(),
            )
        }
    })
}

async fn setup(
    tokens: &Arc<ScriptedTokens>,
) -> (tempfile::TempDir, MockServer, Vault, Arc<CollectingSink>) {
    let server = tokens.mount().await;
    let (dir, store, _) = sqlite_store().await;
    let sink = Arc::new(CollectingSink::default());
    let v = vault(
        store,
        local_lock(),
        MasterKey::generate(),
        &token_url(&server),
        sink.clone(),
        fast_options(),
    );
    (dir, server, v, sink)
}

#[tokio::test]
async fn concurrent_callers_share_one_refresh_and_keep_the_old_refresh_token() {
    let tokens = ScriptedTokens::issuing("t", false);
    let (_d, _srv, v, sink) = setup(&tokens).await;
    v.put_account("acc_1", expired_oauth("old-at", "rt-0"))
        .await
        .unwrap();
    let mut joins = Vec::new();
    for _ in 0..100 {
        let v = v.clone();
        joins.push(tokio::spawn(async move {
            v.credential("acc_1", "crm", Some("production"))
                .await
                .unwrap()
                .with_access_token(str::to_owned)
                .unwrap()
        }));
    }
    for j in joins {
        assert_eq!(j.await.unwrap(), "t-at-1");
    }
    assert_eq!(tokens.calls.load(Ordering::SeqCst), 1);
    assert_eq!(*tokens.seen_refresh_tokens.lock().unwrap(), ["rt-0"]);
    // No refresh_token in the answer: the old one is kept.
    match &v.decrypt_credentials("acc_1").await.unwrap() {
        Credentials::OAuth2 {
            access_token,
            refresh_token,
            ..
        } => {
            assert_eq!(access_token.as_str(), "t-at-1");
            assert_eq!(refresh_token.as_deref(), Some("rt-0"));
        }
        other => panic!("{other:?}"),
    }
    let info = v.account("acc_1").await.unwrap().unwrap();
    assert_eq!(
        (info.refresh_count, info.status),
        (1, AccountStatus::Active)
    );
    assert!(info.last_refreshed_at.is_some() && info.expires_at.is_some());
    assert_eq!(sink.types(), ["account.refreshed"]);
    // Fresh now: no further refresh.
    v.invalidate("acc_1");
    v.credential("acc_1", "crm", None).await.unwrap();
    assert_eq!(tokens.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_rotated_refresh_token_is_persisted_before_use() {
    let tokens = ScriptedTokens::issuing("r", true);
    let (_d, _srv, v, _) = setup(&tokens).await;
    v.put_account("acc_1", expired_oauth("old-at", "rt-0"))
        .await
        .unwrap();
    v.credential("acc_1", "crm", None).await.unwrap();
    v.refresh_now("acc_1").await.unwrap();
    assert_eq!(
        *tokens.seen_refresh_tokens.lock().unwrap(),
        ["rt-0", "r-rt-1"],
        "the second refresh used the rotated token"
    );
    match &v.decrypt_credentials("acc_1").await.unwrap() {
        Credentials::OAuth2 { refresh_token, .. } => {
            assert_eq!(refresh_token.as_deref(), Some("r-rt-2"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(v.account("acc_1").await.unwrap().unwrap().refresh_count, 2);
}

async fn assert_revoked_marks_needs_reauth(template: ResponseTemplate) {
    let tokens = ScriptedTokens::issuing("x", true).then(template);
    let (_d, _srv, v, sink) = setup(&tokens).await;
    v.put_account("acc_1", expired_oauth("old-at", "rt-0"))
        .await
        .unwrap();
    for _ in 0..3 {
        let err = v
            .credential("acc_1", "crm", Some("production"))
            .await
            .unwrap_err();
        assert!(matches!(err, VaultError::NeedsReauth { .. }), "{err}");
        let core: Error = err.into();
        assert_eq!(
            (core.code(), core.code().status().as_u16()),
            (ErrorCode::NeedsReauth, 424)
        );
    }
    v.invalidate("acc_1"); // even after the negative cache: the store says needs_reauth
    assert!(matches!(
        v.credential("acc_1", "crm", None).await,
        Err(VaultError::NeedsReauth { .. })
    ));
    assert!(matches!(
        v.refresh_now("acc_1").await,
        Err(VaultError::NeedsReauth { .. })
    ));
    assert_eq!(
        tokens.calls.load(Ordering::SeqCst),
        1,
        "no refresh attempt after the revocation"
    );
    let info = v.account("acc_1").await.unwrap().unwrap();
    assert_eq!(info.status, AccountStatus::NeedsReauth);
    assert_eq!(sink.types(), ["account.needs_reauth"]);
    // A new PUT (reconnect) revives the account.
    v.put_account("acc_1", expired_oauth("at", "rt-new"))
        .await
        .unwrap();
    v.credential("acc_1", "crm", None).await.unwrap();
    assert_eq!(
        v.account("acc_1").await.unwrap().unwrap().status,
        AccountStatus::Active
    );
}

#[tokio::test]
async fn invalid_grant_marks_needs_reauth() {
    assert_revoked_marks_needs_reauth(
        ResponseTemplate::new(400).set_body_json(serde_json::json!({"error": "invalid_grant"})),
    )
    .await;
}

#[tokio::test]
async fn atlassian_403_invalid_grant_marks_needs_reauth() {
    assert_revoked_marks_needs_reauth(
        ResponseTemplate::new(403).set_body_json(serde_json::json!({"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."})),
    )
    .await;
}

#[tokio::test]
async fn hubspot_bad_refresh_token_marks_needs_reauth() {
    assert_revoked_marks_needs_reauth(
        ResponseTemplate::new(400).set_body_json(serde_json::json!({"status": "BAD_REFRESH_TOKEN", "message": "missing or invalid refresh token"})),
    )
    .await;
}

#[tokio::test]
async fn slack_200_not_ok_marks_needs_reauth() {
    assert_revoked_marks_needs_reauth(
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"ok": false, "error": "invalid_refresh_token"})),
    )
    .await;
}

#[tokio::test]
async fn invalid_client_is_an_operator_error_not_reauth() {
    let tokens = ScriptedTokens::issuing("x", true).then(
        ResponseTemplate::new(401).set_body_json(serde_json::json!({"error": "invalid_client"})),
    );
    let (_d, _srv, v, sink) = setup(&tokens).await;
    v.put_account("acc_1", expired_oauth("old-at", "rt-0"))
        .await
        .unwrap();
    let err = v.credential("acc_1", "crm", None).await.unwrap_err();
    assert!(
        matches!(err, VaultError::ClientMisconfigured { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("client_id/client_secret"));
    assert_eq!(
        tidegate_core::Error::from(err).code(),
        ErrorCode::TokenRefreshFailed
    );
    assert_eq!(
        v.account("acc_1").await.unwrap().unwrap().status,
        AccountStatus::Active
    );
    assert_eq!(sink.types(), ["account.refresh_failed"]);
    // Once the operator fixes the client, the next call refreshes.
    assert_eq!(
        v.credential("acc_1", "crm", None)
            .await
            .unwrap()
            .with_access_token(str::to_owned)
            .unwrap(),
        "x-at-2"
    );
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let tokens = ScriptedTokens::issuing("x", true)
        .then(ResponseTemplate::new(503))
        .then(ResponseTemplate::new(500));
    let (_d, _srv, v, _) = setup(&tokens).await;
    v.put_account("acc_1", expired_oauth("old-at", "rt-0"))
        .await
        .unwrap();
    let cred = v.credential("acc_1", "crm", None).await.unwrap();
    assert_eq!(cred.with_access_token(str::to_owned).unwrap(), "x-at-3");
    assert_eq!(tokens.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_long_retry_after_is_handed_to_the_caller() {
    let tokens = ScriptedTokens::issuing("x", true)
        .then(ResponseTemplate::new(429).insert_header("retry-after", "60"));
    let (_d, _srv, v, _) = setup(&tokens).await;
    v.put_account("acc_1", expired_oauth("old-at", "rt-0"))
        .await
        .unwrap();
    let err = v.credential("acc_1", "crm", None).await.unwrap_err();
    let core: Error = err.into();
    assert_eq!(core.code(), ErrorCode::TokenRefreshFailed);
    assert!(core.code().retryable());
    assert_eq!(core.retry_after(), Some(Duration::from_secs(60)));
    assert_eq!(
        tokens.calls.load(Ordering::SeqCst),
        1,
        "did not hammer a rate-limited token endpoint"
    );
    assert_eq!(
        v.account("acc_1").await.unwrap().unwrap().status,
        AccountStatus::Active
    );
}

#[tokio::test]
async fn layer_rejects_unknown_and_foreign_accounts() {
    let tokens = ScriptedTokens::issuing("x", true);
    let (_d, _srv, v, _) = setup(&tokens).await;
    v.put_account("acc_1", put_oauth("good-at", "rt", "2999-01-01T00:00:00Z"))
        .await
        .unwrap();
    let valid = Arc::new(Mutex::new(vec!["good-at".to_owned()]));
    let hits = Arc::new(AtomicUsize::new(0));
    let svc = ServiceBuilder::new()
        .layer(CredentialLayer::new(
            v.clone(),
            "crm",
            v.connector_auth("crm").unwrap().clone(),
        ))
        .service(upstream(valid, hits.clone()));

    let resp = svc
        .clone()
        .oneshot(ctx_req("acc_1", "production"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let err = svc
        .clone()
        .oneshot(ctx_req("acc_nope", "production"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::UnknownAccount);
    let err = svc
        .clone()
        .oneshot(ctx_req("acc_1", "staging"))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        ErrorCode::UnknownAccount,
        "an account of another environment is unknown"
    );
    let mut no_account = http::Request::new(tidegate_core::body::empty());
    no_account
        .extensions_mut()
        .insert(RequestContext::new("crm"));
    assert_eq!(
        svc.clone().oneshot(no_account).await.unwrap_err().code(),
        ErrorCode::UnknownAccount
    );
    // Another connector's layer does not accept this account either.
    let other = ServiceBuilder::new()
        .layer(CredentialLayer::new(
            v.clone(),
            "keyed",
            v.connector_auth("keyed").unwrap().clone(),
        ))
        .service(upstream(Arc::new(Mutex::new(vec![])), hits.clone()));
    let mut req = ctx_req("acc_1", "production");
    req.extensions_mut()
        .insert(RequestContext::new("keyed").with_account("acc_1"));
    assert_eq!(
        other.oneshot(req).await.unwrap_err().code(),
        ErrorCode::UnknownAccount
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "failed lookups never reach the upstream"
    );
}

#[tokio::test]
async fn upstream_401_triggers_one_refresh_and_one_retry() {
    let tokens = ScriptedTokens::issuing("x", true);
    let (_d, _srv, v, _) = setup(&tokens).await;
    // The stored token is "valid" by its expiry but the upstream has revoked it.
    v.put_account(
        "acc_1",
        put_oauth("revoked-at", "rt-0", "2999-01-01T00:00:00Z"),
    )
    .await
    .unwrap();
    let valid = Arc::new(Mutex::new(vec!["x-at-1".to_owned()]));
    let hits = Arc::new(AtomicUsize::new(0));
    let svc = ServiceBuilder::new()
        .layer(CredentialLayer::new(
            v.clone(),
            "crm",
            v.connector_auth("crm").unwrap().clone(),
        ))
        .service(upstream(valid.clone(), hits.clone()));

    let mut joins = Vec::new();
    for _ in 0..20 {
        // Spawn the Oneshot itself (not an async block around it): rustc cannot prove an
        // async block holding it Send for the boxed-error body type ("not general enough").
        joins.push(tokio::spawn(
            svc.clone().oneshot(ctx_req("acc_1", "production")),
        ));
    }
    for j in joins {
        assert_eq!(j.await.unwrap().unwrap().status(), 200);
    }
    assert_eq!(
        tokens.calls.load(Ordering::SeqCst),
        1,
        "20 concurrent 401s cause one refresh"
    );

    // If the fresh token is rejected too, the 401 passes through after exactly one retry.
    valid.lock().unwrap().clear();
    let before = hits.load(Ordering::SeqCst);
    let resp = svc
        .clone()
        .oneshot(ctx_req("acc_1", "production"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(hits.load(Ordering::SeqCst) - before, 2);
    assert_eq!(tokens.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_large_body_is_not_replayed_after_401() {
    let tokens = ScriptedTokens::issuing("x", true);
    let (_d, _srv, v, _) = setup(&tokens).await;
    v.put_account(
        "acc_1",
        put_oauth("revoked-at", "rt-0", "2999-01-01T00:00:00Z"),
    )
    .await
    .unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let svc = ServiceBuilder::new()
        .layer(
            CredentialLayer::new(v.clone(), "crm", v.connector_auth("crm").unwrap().clone())
                .max_replay_body(16),
        )
        .service(upstream(Arc::new(Mutex::new(vec![])), hits.clone()));
    let mut req = ctx_req("acc_1", "production");
    *req.body_mut() = tidegate_core::body::full(vec![b'x'; 1024]);
    assert_eq!(svc.oneshot(req).await.unwrap().status(), 401);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(tokens.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn api_key_and_basic_are_injected_from_encrypted_storage() {
    let tokens = ScriptedTokens::issuing("x", true);
    let (_d, _srv, v, _) = setup(&tokens).await;
    let put = |c: serde_json::Value| serde_json::from_value(c).unwrap();
    v.put_account("k1", put(serde_json::json!({"connector":"keyed","environment":"production","credentials":{"api_key":"sk_live_1"}}))).await.unwrap();
    v.put_account("b1", put(serde_json::json!({"connector":"plain","environment":"production","credentials":{"username":"u","password":"p"}}))).await.unwrap();
    let echo = service_fn(|req: http::Request<Body>| async move {
        let h = |n: &str| {
            req.headers()
                .get(n)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        Ok::<_, Error>(http::Response::new(tidegate_core::body::full(format!(
            "{}|{}",
            h("x-api-key"),
            h("authorization")
        ))))
    });
    for (connector, account, expect) in [
        ("keyed", "k1", "sk_live_1|"),
        ("plain", "b1", "|Basic dTpw"),
    ] {
        let svc = CredentialLayer::new(
            v.clone(),
            connector,
            v.connector_auth(connector).unwrap().clone(),
        );
        let mut req = http::Request::new(tidegate_core::body::empty());
        req.extensions_mut().insert(
            RequestContext::new(connector)
                .with_account(account)
                .with_environment("production"),
        );
        let resp = tower::Layer::layer(&svc, echo).oneshot(req).await.unwrap();
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(std::str::from_utf8(&body).unwrap(), expect);
    }
    // Bad input is a clear error and stores nothing.
    let err = v.put_account("k2", put(serde_json::json!({"connector":"keyed","environment":"production","credentials":{"apikey":"x"}}))).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("credentials.apikey is not a field of api_key credentials"),
        "{err}"
    );
    assert!(v.account("k2").await.unwrap().is_none());
    let err = v.put_account("bad/id", put(serde_json::json!({"connector":"keyed","environment":"p","credentials":{"api_key":"x"}}))).await.unwrap_err();
    assert!(matches!(err, VaultError::Invalid(_)));
}

#[tokio::test]
async fn the_proactive_refresher_refreshes_idle_accounts_once() {
    let tokens = ScriptedTokens::issuing("p", true);
    let server = tokens.mount().await;
    let (_d, store, _) = sqlite_store().await;
    let opts = VaultOptions {
        refresher_interval: Duration::from_millis(30),
        ..fast_options()
    };
    let lock = local_lock();
    // Two "processes" sharing store and lock, each with its own refresher.
    let kek = MasterKey::generate();
    let auth = tidegate_vault::ConnectorAuth::OAuth2(crate::support::oauth(&token_url(&server)));
    let v1 = Vault::builder(store.clone(), lock.clone(), kek.clone())
        .connector("crm", auth.clone())
        .options(opts.clone())
        .build();
    let v2 = Vault::builder(store.clone(), lock.clone(), kek)
        .connector("crm", auth)
        .options(opts)
        .build();
    // Expires in 50 s: inside even the smallest threshold of the default 60–180 s window.
    let soon = tidegate_vault::clock::rfc3339(tidegate_vault::clock::now_ms() + 50_000);
    v1.put_account("acc_idle", put_oauth("at-0", "rt-0", &soon))
        .await
        .unwrap();
    let _r1 = v1.spawn_refresher();
    let _r2 = v2.spawn_refresher();
    let mut refreshed = false;
    for _ in 0..200 {
        if v1.account("acc_idle").await.unwrap().unwrap().refresh_count >= 1 {
            refreshed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(refreshed, "the refresher never refreshed the idle account");
    // Let both refreshers run several more cycles: the new expiry is an hour away.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        tokens.calls.load(Ordering::SeqCst),
        1,
        "exactly one refresh across both refreshers"
    );
    assert_eq!(
        v1.account("acc_idle").await.unwrap().unwrap().refresh_count,
        1
    );
}

/// Refresh results and account statuses reach the metrics, labelled by connector and
/// result/status only (never an account id).
#[tokio::test]
async fn refreshes_and_account_statuses_are_counted_in_metrics() {
    let recorder = tidegate_observe::metrics::prometheus_builder().build_recorder();
    let handle = recorder.handle();
    // Current-thread runtime: everything the vault runs records into this recorder.
    let _guard = metrics::set_default_local_recorder(&recorder);

    let tokens = ScriptedTokens::issuing("m", false)
        .then(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({ "access_token": "m-at-1", "expires_in": 3600, "token_type": "Bearer" }),
        ))
        .then(ResponseTemplate::new(400).set_body_json(serde_json::json!({"error": "invalid_grant"})))
        .then(ResponseTemplate::new(429).insert_header("retry-after", "60"));
    let (_d, _srv, v, _) = setup(&tokens).await;
    for id in ["acc_ok", "acc_revoked", "acc_throttled"] {
        v.put_account(id, expired_oauth("old-at", "rt-0"))
            .await
            .unwrap();
    }
    let render = || handle.render();
    assert!(
        render().contains("tidegate_accounts{connector=\"crm\",status=\"active\"} 3"),
        "{}",
        render()
    );

    v.credential("acc_ok", "crm", None).await.unwrap();
    assert!(matches!(
        v.credential("acc_revoked", "crm", None).await,
        Err(VaultError::NeedsReauth { .. })
    ));
    assert!(matches!(
        v.credential("acc_throttled", "crm", None).await,
        Err(VaultError::RefreshFailed { .. })
    ));

    let text = render();
    for expected in [
        "tidegate_token_refreshes_total{connector=\"crm\",result=\"ok\"} 1",
        "tidegate_token_refreshes_total{connector=\"crm\",result=\"revoked\"} 1",
        "tidegate_token_refreshes_total{connector=\"crm\",result=\"failed\"} 1",
        "tidegate_accounts{connector=\"crm\",status=\"active\"} 2",
        "tidegate_accounts{connector=\"crm\",status=\"needs_reauth\"} 1",
        "tidegate_accounts{connector=\"keyed\",status=\"active\"} 0",
    ] {
        assert!(text.contains(expected), "missing {expected}:\n{text}");
    }
    assert!(
        !text.contains("acc_"),
        "an account id became a label:\n{text}"
    );

    // Deleting the revoked account brings its gauge back to zero.
    assert!(v.delete_account("acc_revoked").await.unwrap());
    assert!(
        render().contains("tidegate_accounts{connector=\"crm\",status=\"needs_reauth\"} 0"),
        "{}",
        render()
    );
}
