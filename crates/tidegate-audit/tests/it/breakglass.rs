//! `accounts reveal`: refused without a reason (recorded), recorded before anything is shown,
//! and each attempt appears in the trail exactly once.

use tidegate_audit::breakglass::{RevealError, reveal};
use tidegate_audit::trail::{Actor, Trail, actions};
use tidegate_vault::{ConnectorAuth, PutAccount, Vault};

const CONFIG: &str = r#"
[server]
[storage]
url = "sqlite://./data/tidegate.db"
[keys]
provider = "file"
path = "./secrets/master.key"
[environments.production]
api_keys = ["${TIDEGATE_PROD_KEY}"]
[connectors.tickets]
base_url = "https://tickets.example.com"
auth = { type = "api_key", header = "X-Api-Key" }
breaker = { consecutive_failures = 5 }
"#;

#[tokio::test]
async fn reveal_requires_a_reason_and_is_always_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tidegate.toml");
    std::fs::write(&path, CONFIG).unwrap();
    let config =
        tidegate_config::Config::from_str(CONFIG, &path, &crate::support::placeholder_env).unwrap();
    std::fs::create_dir_all(dir.path().join("secrets")).unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let key = tidegate_crypto::MasterKey::generate();
    key.write_new_file(dir.path().join("secrets/master.key"))
        .unwrap();

    // An account stored by the vault itself, under the same master key.
    let store = tidegate_vault::store::open_store(&config.storage.url)
        .await
        .unwrap();
    let lock = tidegate_vault::lock::open_lock("local").unwrap();
    let vault = Vault::builder(
        store,
        lock,
        tidegate_crypto::MasterKey::load_file(dir.path().join("secrets/master.key")).unwrap(),
    )
    .connector(
        "tickets",
        ConnectorAuth::ApiKey {
            header: Some("X-Api-Key".into()),
            query: None,
            prefix: None,
        },
    )
    .build();
    vault
        .put_account(
            "acc_1",
            PutAccount {
                connector: "tickets".into(),
                environment: "production".into(),
                credentials: serde_json::json!({ "api_key": "sk_live_very_secret" }),
            },
        )
        .await
        .unwrap();

    let ops = Actor::named("cli:ops");
    // 1. No reason: refused (exit 2), recorded as refused, nothing revealed.
    let err = reveal(&config, "acc_1", None, &ops).await.unwrap_err();
    assert!(matches!(err, RevealError::MissingReason));
    assert_eq!(err.exit_code(), 2);
    assert!(!err.to_string().contains("sk_live"));
    let err = reveal(&config, "acc_1", Some("   "), &ops)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RevealError::MissingReason),
        "a blank reason is no reason"
    );

    // 2. With a reason: the plaintext, and one `ok` entry carrying the reason.
    let shown = reveal(
        &config,
        "acc_1",
        Some("INC-1234: verify the key the vendor sees"),
        &ops,
    )
    .await
    .unwrap();
    assert!(shown.contains("sk_live_very_secret"), "{}", shown.len());

    // 3. Unknown account: failed, recorded.
    let err = reveal(&config, "acc_nope", Some("typo"), &ops)
        .await
        .unwrap_err();
    assert!(matches!(err, RevealError::UnknownAccount(_)));
    assert_eq!(err.exit_code(), 1);

    let trail = Trail::connect(&config.storage.url).await.unwrap();
    let entries = trail.entries().await.unwrap();
    let got: Vec<(&str, &str, &str, Option<&str>)> = entries
        .iter()
        .map(|e| {
            (
                e.action.as_str(),
                e.target.as_str(),
                e.outcome.as_str(),
                e.detail.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                actions::ACCOUNT_REVEAL,
                "account:acc_1",
                "refused",
                Some("no --reason given")
            ),
            (
                actions::ACCOUNT_REVEAL,
                "account:acc_1",
                "refused",
                Some("no --reason given")
            ),
            (
                actions::ACCOUNT_REVEAL,
                "account:acc_1",
                "ok",
                Some("INC-1234: verify the key the vendor sees")
            ),
            (
                actions::ACCOUNT_REVEAL,
                "account:acc_nope",
                "failed",
                Some("typo (unknown account \"acc_nope\")")
            ),
        ]
    );
    assert!(entries.iter().all(|e| e.actor == "cli:ops"));
    assert!(trail.verify().await.unwrap().is_ok());
    // The secret is nowhere in the trail.
    assert!(
        entries
            .iter()
            .all(|e| !format!("{e:?}").contains("sk_live"))
    );

    // The audit summarizes the reveals.
    let summary = trail
        .summary(time::OffsetDateTime::UNIX_EPOCH)
        .await
        .unwrap();
    assert_eq!(summary.reveals.len(), 4);
    assert_eq!(summary.refused, 2);
}
