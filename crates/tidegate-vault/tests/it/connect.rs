//! The OAuth connect flow: authorize URL with state + PKCE S256, code exchange with the
//! verifier, single-use state, error redirects.

use std::sync::{Arc, Mutex};

use tidegate_crypto::MasterKey;
use tidegate_vault::{
    ConnectorAuth, Vault, VaultError, connect::ConnectRequest, credentials::Credentials,
};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers};

use crate::support::{CollectingSink, fast_options, local_lock, oauth, sqlite_store};

/// A token endpoint that checks the PKCE verifier against the challenge the test saw.
struct CodeExchange {
    challenge: Arc<Mutex<String>>,
}

impl Respond for CodeExchange {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let form: std::collections::HashMap<String, String> =
            form_urlencoded::parse(&req.body).into_owned().collect();
        let verifier = form.get("code_verifier").cloned().unwrap_or_default();
        let ok = form.get("grant_type").map(String::as_str) == Some("authorization_code")
            && form.get("code").map(String::as_str) == Some("the-code")
            && form.get("redirect_uri").map(String::as_str)
                == Some("https://gw.example/oauth/callback")
            && tidegate_vault::connect::pkce_challenge(&verifier)
                == *self.challenge.lock().unwrap();
        if ok {
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"access_token": "c-at", "refresh_token": "c-rt", "expires_in": 3600, "scope": "read"}))
        } else {
            ResponseTemplate::new(400).set_body_json(serde_json::json!({"error": "invalid_grant"}))
        }
    }
}

#[tokio::test]
async fn connect_flow_stores_tokens_with_pkce_and_single_use_state() {
    let challenge = Arc::new(Mutex::new(String::new()));
    let server = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/token"))
        .respond_with(CodeExchange {
            challenge: challenge.clone(),
        })
        .mount(&server)
        .await;
    let (_d, store, _) = sqlite_store().await;
    let mut settings = oauth(&format!("{}/token", server.uri()));
    settings.authorize_url = Some("https://provider.example/authorize?prompt=consent".into());
    settings.scopes = vec!["read".into(), "write".into()];
    let sink = Arc::new(CollectingSink::default());
    let v = Vault::builder(store, local_lock(), MasterKey::generate())
        .connector("crm", ConnectorAuth::OAuth2(settings))
        .events(sink.clone())
        .options(fast_options())
        .build();
    let req = ConnectRequest {
        environment: "production".into(),
        account_id: "acc_c".into(),
        redirect_uri: "https://app.example/done?x=1".into(),
    };
    let callback = "https://gw.example/oauth/callback";
    let url = url::Url::parse(&v.begin_connect("crm", &req, callback).await.unwrap()).unwrap();
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(url.host_str(), Some("provider.example"));
    assert_eq!(q["prompt"], "consent");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "tidegate");
    assert_eq!(q["redirect_uri"], callback);
    assert_eq!(q["scope"], "read write");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["state"].len() >= 43);
    *challenge.lock().unwrap() = q["code_challenge"].clone();

    let outcome = v
        .complete_connect(&q["state"], Some("the-code"), None, callback)
        .await
        .unwrap();
    assert_eq!(
        outcome.location,
        "https://app.example/done?x=1&account_id=acc_c&status=connected"
    );
    match &v.decrypt_credentials("acc_c").await.unwrap() {
        Credentials::OAuth2 {
            access_token,
            refresh_token,
            scope,
        } => {
            assert_eq!(
                (
                    access_token.as_str(),
                    refresh_token.as_deref(),
                    scope.as_deref()
                ),
                ("c-at", Some("c-rt"), Some("read"))
            );
        }
        other => panic!("{other:?}"),
    }
    let info = v.account("acc_c").await.unwrap().unwrap();
    assert_eq!(
        (info.environment.as_str(), info.connector.as_str()),
        ("production", "crm")
    );
    assert!(info.expires_at.is_some());
    assert_eq!(sink.types(), ["account.connected"]);

    // The state is single-use.
    let err = v
        .complete_connect(&q["state"], Some("the-code"), None, callback)
        .await
        .unwrap_err();
    assert!(matches!(err, VaultError::Invalid(_)), "{err}");

    // A provider error or a failed exchange redirects back with status=error and a code.
    let url = url::Url::parse(&v.begin_connect("crm", &req, callback).await.unwrap()).unwrap();
    let state2: String = url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let out = v
        .complete_connect(&state2, None, Some("access_denied"), callback)
        .await
        .unwrap();
    assert_eq!(
        out.location,
        "https://app.example/done?x=1&account_id=acc_c&status=error&code=access_denied"
    );
    let url = url::Url::parse(&v.begin_connect("crm", &req, callback).await.unwrap()).unwrap();
    let state3: String = url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let out = v
        .complete_connect(&state3, Some("wrong-code"), None, callback)
        .await
        .unwrap();
    assert_eq!(out.error.as_deref(), Some("invalid_grant"));

    // Bad input is refused before anything is stored.
    let bad = ConnectRequest {
        redirect_uri: "javascript:alert(1)".into(),
        ..req.clone()
    };
    assert!(matches!(
        v.begin_connect("crm", &bad, callback).await,
        Err(VaultError::Invalid(_))
    ));
    assert!(matches!(
        v.begin_connect("nope", &req, callback).await,
        Err(VaultError::Invalid(_))
    ));
}
