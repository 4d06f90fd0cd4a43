//! `tidegate serve` runs the events runtime: a provider webhook signed with the connector's
//! scheme is verified and delivered, signed per Standard Webhooks, to the environment's
//! `webhook_url` (a local receiver that verifies it independently); a bad signature is 401.

use std::time::{Duration, SystemTime};

use tidegate_sandbox::{
    receiver::Receiver,
    webhooks::{WebhookScheme, fire},
};

use super::{free_port, serve, tidegate, write};

const PROVIDER_SECRET: &str = "whsec_cHJvdmlkZXItc2VjcmV0LWZvci10aGUtdGVzdA==";
const CUSTOMER_SECRET: &str = "whsec_Y3VzdG9tZXItc2VjcmV0LWZvci10aGUtdGVzdA==";

#[test]
fn serve_verifies_a_signed_webhook_and_delivers_it_to_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let receiver = runtime.block_on(Receiver::start(CUSTOMER_SECRET)).unwrap();
    let port = free_port();
    let config = write(
        dir.path(),
        "tidegate.toml",
        &format!(
            r#"[server]
admin_key = "adm"
shutdown_grace = "2s"
[environments.production]
api_keys = ["pk"]
webhook_url = "{url}"
webhook_secret = "{CUSTOMER_SECRET}"
[connectors.crm]
base_url = "http://127.0.0.1:9"
auth = {{ type = "none" }}
webhooks = {{ verify = "standard-webhooks", secret = "{PROVIDER_SECRET}", object = "'contact'", id = "data.id", version = "data.updatedAt", event_id = "id" }}
"#,
            url = receiver.url()
        ),
    );
    let key_init = tidegate()
        .args(["keys", "init", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(key_init.status.success(), "{key_init:?}");
    let serve = serve(&config, port);
    let base = format!("http://127.0.0.1:{port}");

    runtime.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        // An auth = none account is registered with empty credentials (CONTRACT §8).
        let mut registered = None;
        for _ in 0..200 {
            match client
                .put(format!("{base}/admin/accounts/acc_1"))
                .bearer_auth("adm")
                .json(&serde_json::json!({ "connector": "crm", "environment": "production", "credentials": {} }))
                .send()
                .await
            {
                Ok(r) => {
                    registered = Some(r.status().as_u16());
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        assert_eq!(registered, Some(201), "tidegate serve came up and registered the account");

        let url = format!("{base}/webhooks/crm/acc_1");
        let body = br#"{"id":"evt_42","data":{"id":"c_7","updatedAt":"2026-11-29T10:00:00Z"}}"#;
        let bad = fire(&url, WebhookScheme::StandardWebhooks, "whsec_d3Jvbmctc2VjcmV0", body, SystemTime::now())
            .await
            .unwrap();
        assert_eq!(bad.as_u16(), 401, "a bad signature is refused");
        let good = fire(&url, WebhookScheme::StandardWebhooks, PROVIDER_SECRET, body, SystemTime::now())
            .await
            .unwrap();
        assert!(good.is_success(), "a good signature is accepted: {good}");

        let events = receiver
            .wait_for(Duration::from_secs(20), |e| !e.is_empty())
            .await;
        assert_eq!(events.len(), 1, "exactly the verified webhook is delivered: {events:?}");
        let event = &events[0];
        assert_eq!(event["type"], "record.changed");
        assert_eq!(event["environment"], "production");
        assert_eq!(event["connector"], "crm");
        assert_eq!(event["integrated_account_id"], "acc_1");
        assert_eq!(event["data"]["source"], "webhook");
        assert_eq!(event["data"]["object"], "contact");
        assert_eq!(event["data"]["id"], "c_7");
        assert_eq!(event["data"]["payload"]["id"], "evt_42");
        assert_eq!(receiver.rejected(), 0, "every delivery carried a valid signature");
    });
    drop(serve);
}
