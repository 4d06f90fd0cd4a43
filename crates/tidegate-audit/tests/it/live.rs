//! The audit against a real (temporary) deployment: a SQLite database written by the vault, a
//! master key file, boundary-log files and an admin trail, each seeded with a live-state finding.

use std::path::Path;

use tidegate_audit::findings::ids;
use tidegate_audit::trail::{Actor, Outcome, Trail, actions};
use tidegate_vault::store::{AccountRecord, AccountStatus, SqliteStore, Store};

use crate::support::placeholder_env;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

fn record(
    id: &str,
    connector: &str,
    auth: &str,
    status: AccountStatus,
    key_id: &str,
    now: i64,
) -> AccountRecord {
    AccountRecord {
        id: id.into(),
        connector: connector.into(),
        environment: "production".into(),
        auth_type: auth.into(),
        status,
        status_reason: None,
        credentials: vec![1, 2, 3],
        wrapped_key: vec![4, 5, 6],
        key_id: key_id.into(),
        expires_at: None,
        last_refreshed_at: None,
        refresh_count: 0,
        version: 0,
        created_at: now,
        updated_at: now,
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const CONFIG: &str = r#"
[server]
admin_key = "${TIDEGATE_ADMIN_KEY}"
[storage]
url = "sqlite://./db/tidegate.db"
[keys]
provider = "file"
path = "./keys/master.key"
[logging]
file = "./logs/boundary.log"
retention = "30d"
[audit]
instances = 1
credential_rotation = "90d"
target_availability = "99%"
[environments.production]
api_keys = ["${TIDEGATE_PROD_KEY}"]
[connectors.crm]
base_url = "https://crm.example.com"
timeout = "10s"
auth = { type = "oauth2", client_id = "id", client_secret = "${CRM_SECRET}", token_url = "https://crm.example.com/token" }
breaker = { consecutive_failures = 5 }
sla = { uptime = "99.9%" }
[connectors.tickets]
base_url = "https://tickets.example.com"
timeout = "10s"
auth = { type = "api_key", header = "X-Api-Key" }
breaker = { consecutive_failures = 5 }
sla = { uptime = "99.9%" }
"#;

#[tokio::test]
async fn live_state_findings_from_a_real_deployment() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let config_path = root.join("tidegate.toml");
    write(&config_path, CONFIG);
    let mut config =
        tidegate_config::Config::from_str(CONFIG, &config_path, &placeholder_env).unwrap();
    config.source_path = Some(config_path.clone());

    // Master key, then made group/world readable (TG-KEY-FILE-PERMISSIONS; the crypto crate then
    // refuses to load it too: TG-KEK-UNAVAILABLE).
    std::fs::create_dir_all(root.join("keys")).unwrap();
    let key = tidegate_crypto::MasterKey::generate();
    key.write_new_file(root.join("keys/master.key")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            root.join("keys/master.key"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
    }

    // Accounts, written by the vault's own store.
    let now = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    let db_url = format!("sqlite://{}", root.join("db/tidegate.db").display());
    std::fs::create_dir_all(root.join("db")).unwrap();
    let store = SqliteStore::open(&db_url).await.unwrap();
    let mut stale = record(
        "acc_stale",
        "crm",
        "oauth2",
        AccountStatus::Active,
        &key.id(),
        now,
    );
    stale.expires_at = Some(now - 2 * HOUR_MS);
    stale.last_refreshed_at = Some(now - 3 * HOUR_MS);
    store.put(&stale).await.unwrap();
    let mut fresh = record(
        "acc_fresh",
        "crm",
        "oauth2",
        AccountStatus::Active,
        &key.id(),
        now,
    );
    fresh.expires_at = Some(now + HOUR_MS);
    store.put(&fresh).await.unwrap();
    store
        .put(&record(
            "acc_revoked",
            "crm",
            "oauth2",
            AccountStatus::NeedsReauth,
            "0011223344556677",
            now,
        ))
        .await
        .unwrap();
    store
        .put(&record(
            "acc_old_key",
            "tickets",
            "api_key",
            AccountStatus::Active,
            &key.id(),
            now,
        ))
        .await
        .unwrap();

    // The api key was last replaced 200 days ago (the store stamps writes with the current time,
    // so age the row directly, as time would).
    let raw = sqlx::SqlitePool::connect(&db_url).await.unwrap();
    sqlx::query("UPDATE tg_vault_accounts SET updated_at = ? WHERE id = 'acc_old_key'")
        .bind(now - 200 * DAY_MS)
        .execute(&raw)
        .await
        .unwrap();

    // Boundary logs: the active file and a rotated one far older than the 30d retention.
    write(&root.join("logs/boundary.log"), "{}\n");
    write(&root.join("logs/boundary-2025-01-01.log"), "{}\n");
    write(&root.join("logs/unrelated-2020-01-01.log"), "{}\n");

    // Admin trail with an edited row.
    let trail = Trail::connect(&db_url).await.unwrap();
    for target in ["account:acc_1", "account:acc_2", "account:acc_3"] {
        trail
            .append(
                &Actor::named("cli:ops"),
                actions::ACCOUNT_DELETE,
                target,
                Outcome::Ok,
            )
            .await
            .unwrap();
    }
    sqlx::query("UPDATE tidegate_admin_trail SET actor = 'cli:someone-else' WHERE seq = 2")
        .execute(&raw)
        .await
        .unwrap();

    let report = tidegate_audit::audit(&config, Some(CONFIG)).await;
    let has = |id: &str, path: &str| {
        assert!(
            report.findings.iter().any(|f| f.id == id && f.path == path),
            "{id} at {path} missing: {:#?}",
            report.findings
        );
    };
    has(ids::KEY_FILE_PERMISSIONS, "keys.path");
    has(ids::KEK_UNAVAILABLE, "keys.path");
    has(ids::ACCOUNT_STALE, "connectors.crm.auth");
    has(ids::ACCOUNT_NEEDS_REAUTH, "connectors.crm.auth");
    has(ids::CREDENTIAL_ROTATION_OVERDUE, "connectors.tickets.auth");
    has(ids::LOG_RETENTION_NOT_APPLIED, "logging.retention");
    has(ids::TRAIL_BROKEN, "storage.url");
    assert!(
        !report.findings.iter().any(|f| f.id == ids::KEK_BESIDE_DB),
        "keys/ and db/ are separate directories"
    );
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.id == ids::STORAGE_UNREACHABLE)
    );
    let stale = report
        .findings
        .iter()
        .find(|f| f.id == ids::ACCOUNT_STALE)
        .unwrap();
    assert!(
        stale.message.contains("acc_stale") && !stale.message.contains("acc_fresh"),
        "{}",
        stale.message
    );

    // Counts per connector and in total.
    let crm = report
        .oauth
        .connectors
        .iter()
        .find(|c| c.connector == "crm")
        .unwrap();
    let counts = crm.accounts.as_ref().unwrap();
    assert_eq!(
        (counts.active, counts.needs_reauth, counts.stale),
        (2, 1, 1)
    );
    assert_eq!(report.oauth.accounts_total.as_ref().unwrap().active, 3);
    assert_eq!(
        report.live_state.logs.files, 2,
        "the unrelated file is not a boundary log"
    );
    assert!(report.live_state.logs.oldest_age_days.unwrap() > 300);
    match &report.admin_trail.summary.as_ref().unwrap().chain {
        tidegate_audit::trail::ChainStatus::Broken { at_seq, .. } => assert_eq!(*at_seq, 2),
        ok => panic!("tampering not reported: {ok:?}"),
    }
    assert!(report.has_high());

    // With the key made private again it is read, and accounts under another key are counted.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            root.join("keys/master.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let report = tidegate_audit::audit(&config, Some(CONFIG)).await;
        assert_eq!(
            report.live_state.keys.key_id.as_deref(),
            Some(key.id().as_str())
        );
        assert_eq!(report.oauth.encryption.accounts_on_other_keys, Some(1));
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.id == ids::KEY_ROTATION_INCOMPLETE)
        );
        assert!(
            !report
                .findings
                .iter()
                .any(|f| f.id == ids::KEK_UNAVAILABLE || f.id == ids::KEY_FILE_PERMISSIONS)
        );
    }
}

#[tokio::test]
async fn missing_database_and_key_are_reported_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("tidegate.toml");
    write(&config_path, CONFIG);
    let config = tidegate_config::Config::from_str(CONFIG, &config_path, &placeholder_env).unwrap();
    let report = tidegate_audit::audit(&config, Some(CONFIG)).await;
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.id == ids::STORAGE_UNREACHABLE && f.path == "storage.url")
    );
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.id == ids::KEK_UNAVAILABLE && f.path == "keys.path")
    );
    assert!(
        !dir.path().join("db/tidegate.db").exists(),
        "the audit must not create the database"
    );
    assert!(!report.admin_trail.available);
}
