//! The admin trail against real databases: SQLite always, PostgreSQL when
//! `TIDEGATE_TEST_DATABASE_URL` is set (in a fresh schema, dropped afterwards).

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use tidegate_audit::trail::{Actor, ChainStatus, NewEntry, Outcome, Trail, actions};

/// Raw access to the trail's tables, to play the part of someone tampering with the database.
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    async fn exec(&self, sql: &'static str) {
        match self {
            Raw::Sqlite(p) => {
                sqlx::query(sql).execute(p).await.unwrap();
            }
            Raw::Postgres(p) => {
                sqlx::query(sql).execute(p).await.unwrap();
            }
        }
    }
}

async fn sqlite_trail(dir: &tempfile::TempDir) -> (Trail, Raw, String) {
    let url = format!("sqlite://{}/tidegate.db", dir.path().display());
    let trail = Trail::connect(&url).await.unwrap();
    let raw = SqlitePoolOptions::new()
        .connect_with(SqliteConnectOptions::from_str(&url).unwrap())
        .await
        .unwrap();
    (trail, Raw::Sqlite(raw), url)
}

/// A fresh schema on the test PostgreSQL, or None (SKIPPED) when the variable is unset.
struct PgSchema {
    admin: sqlx::PgPool,
    name: String,
    url: String,
}

impl PgSchema {
    async fn create() -> Option<Self> {
        let Ok(url) = std::env::var("TIDEGATE_TEST_DATABASE_URL") else {
            eprintln!("SKIPPED: PostgreSQL trail test (set TIDEGATE_TEST_DATABASE_URL to run it)");
            return None;
        };
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        let name = format!(
            "tg_audit_{}",
            std::process::id() as u64 * 1000 + rand_suffix()
        );
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&admin)
            .await
            .unwrap();
        Some(Self { admin, name, url })
    }

    async fn pool(&self) -> sqlx::PgPool {
        let opts = PgConnectOptions::from_str(&self.url)
            .unwrap()
            .options([("search_path", self.name.as_str())]);
        PgPoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .unwrap()
    }

    async fn drop(self) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA {} CASCADE",
            self.name
        )))
        .execute(&self.admin)
        .await
        .unwrap();
    }
}

fn rand_suffix() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    u64::from(nanos % 1000)
}

/// Every kind of admin action, appended once each, appears exactly once, in order, with a chain
/// that verifies.
async fn each_action_appears_once(trail: &Trail) {
    let admin = Actor::admin_key("k-admin");
    let cli = Actor::named("cli:ops");
    let script: Vec<(&Actor, &str, &str, Outcome, Option<&str>)> = vec![
        (
            &admin,
            actions::ACCOUNT_PUT,
            "account:acc_1",
            Outcome::Ok,
            None,
        ),
        (
            &admin,
            actions::ACCOUNT_READ,
            "account:acc_1",
            Outcome::Ok,
            None,
        ),
        (
            &admin,
            actions::ACCOUNT_REFRESH,
            "account:acc_1",
            Outcome::Failed,
            None,
        ),
        (
            &admin,
            actions::ADMIN_REQUEST,
            "GET /admin/breakers",
            Outcome::Ok,
            None,
        ),
        (
            &cli,
            actions::ACCOUNT_REVEAL,
            "account:acc_1",
            Outcome::Ok,
            Some("INC-42 debugging"),
        ),
        (
            &cli,
            actions::ACCOUNT_REVEAL,
            "account:acc_1",
            Outcome::Refused,
            Some("no --reason given"),
        ),
        (&cli, actions::KEYS_ROTATE, "keys:all", Outcome::Ok, None),
        (
            &admin,
            actions::ACCOUNT_DELETE,
            "account:acc_1",
            Outcome::Ok,
            None,
        ),
    ];
    for (actor, action, target, outcome, detail) in &script {
        trail
            .append_entry(NewEntry {
                actor,
                action,
                target,
                outcome: *outcome,
                detail: *detail,
            })
            .await
            .unwrap();
    }
    let entries = trail.entries().await.unwrap();
    assert_eq!(entries.len(), script.len());
    for (i, (e, (actor, action, target, outcome, detail))) in
        entries.iter().zip(&script).enumerate()
    {
        assert_eq!(e.seq, i as i64 + 1);
        assert_eq!(e.actor, actor.as_str());
        assert_eq!(&e.action, action);
        assert_eq!(&e.target, target);
        assert_eq!(e.outcome, outcome.as_str());
        assert_eq!(e.detail.as_deref(), *detail);
    }
    let status = trail.verify().await.unwrap();
    assert_eq!(
        status,
        ChainStatus::Ok {
            entries: 8,
            head_hash: entries[7].entry_hash.clone()
        }
    );

    let summary = trail
        .summary(time::OffsetDateTime::UNIX_EPOCH)
        .await
        .unwrap();
    assert_eq!(summary.entries_in_period, 8);
    assert_eq!(summary.reveals.len(), 2);
    assert_eq!(summary.deletions, 1);
    assert_eq!(summary.key_rotations, 1);
    assert_eq!(summary.refused, 1);
    assert!(summary.last_key_rotation.is_some());
    assert!(summary.chain.is_ok());
    let future = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    assert_eq!(trail.summary(future).await.unwrap().entries_in_period, 0);
}

async fn tampering_is_detected(trail: &Trail, raw: &Raw) {
    for i in 0..5 {
        let target = [
            "account:a",
            "account:b",
            "account:c",
            "account:d",
            "account:e",
        ][i];
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
    assert!(trail.verify().await.unwrap().is_ok());

    // Editing a row: broken at that row.
    raw.exec("UPDATE tidegate_admin_trail SET target = 'account:zzz' WHERE seq = 3")
        .await;
    match trail.verify().await.unwrap() {
        ChainStatus::Broken { at_seq, reason } => {
            assert_eq!(at_seq, 3, "{reason}");
            assert!(reason.contains("altered"), "{reason}");
        }
        ok => panic!("edit not detected: {ok:?}"),
    }
    raw.exec("UPDATE tidegate_admin_trail SET target = 'account:c' WHERE seq = 3")
        .await;
    assert!(
        trail.verify().await.unwrap().is_ok(),
        "restoring the row restores the chain"
    );

    // Deleting a row in the middle: broken at the missing seq.
    raw.exec("DELETE FROM tidegate_admin_trail WHERE seq = 2")
        .await;
    match trail.verify().await.unwrap() {
        ChainStatus::Broken { at_seq, reason } => {
            assert_eq!(at_seq, 2, "{reason}");
            assert!(reason.contains("missing"), "{reason}");
        }
        ok => panic!("deletion not detected: {ok:?}"),
    }
}

async fn deleting_the_newest_row_is_detected(trail: &Trail, raw: &Raw) {
    for _ in 0..3 {
        trail
            .append(
                &Actor::named("cli:ops"),
                actions::KEYS_ROTATE,
                "keys:all",
                Outcome::Ok,
            )
            .await
            .unwrap();
    }
    raw.exec("DELETE FROM tidegate_admin_trail WHERE seq = 3")
        .await;
    assert!(matches!(
        trail.verify().await.unwrap(),
        ChainStatus::Broken { at_seq: 3, .. }
    ));
}

/// Several independent pools (as several processes would have) appending at once never fork
/// the chain: seqs stay contiguous and the chain verifies.
async fn concurrent_appends_do_not_fork(trails: Vec<Trail>) {
    let per = 15;
    let n = trails.len();
    let mut tasks = Vec::new();
    for (w, t) in trails.iter().cloned().enumerate() {
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                let target = format!("account:w{w}_{i}");
                t.append(
                    &Actor::named(format!("cli:w{w}")),
                    actions::ACCOUNT_PUT,
                    &target,
                    Outcome::Ok,
                )
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let entries = trails[0].entries().await.unwrap();
    assert_eq!(entries.len(), n * per);
    assert!(
        entries
            .iter()
            .enumerate()
            .all(|(i, e)| e.seq == i as i64 + 1)
    );
    assert!(trails[0].verify().await.unwrap().is_ok());
}

#[tokio::test]
async fn sqlite_each_action_appears_once() {
    let dir = tempfile::tempdir().unwrap();
    let (trail, _, _) = sqlite_trail(&dir).await;
    each_action_appears_once(&trail).await;
}

#[tokio::test]
async fn sqlite_tampering_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let (trail, raw, _) = sqlite_trail(&dir).await;
    tampering_is_detected(&trail, &raw).await;
    let dir2 = tempfile::tempdir().unwrap();
    let (trail2, raw2, _) = sqlite_trail(&dir2).await;
    deleting_the_newest_row_is_detected(&trail2, &raw2).await;
}

#[tokio::test]
async fn sqlite_concurrent_appends_do_not_fork() {
    let dir = tempfile::tempdir().unwrap();
    let (first, _, url) = sqlite_trail(&dir).await;
    let mut trails = vec![first];
    for _ in 0..3 {
        trails.push(Trail::connect(&url).await.unwrap());
    }
    concurrent_appends_do_not_fork(trails).await;
}

#[tokio::test]
async fn sqlite_open_existing_does_not_create_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/absent.db", dir.path().display());
    assert!(Trail::open_existing(&url).await.is_err());
    assert!(!dir.path().join("absent.db").exists());
}

#[tokio::test]
async fn postgres_trail() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    {
        let trail = Trail::from_pg_pool(schema.pool().await).await.unwrap();
        each_action_appears_once(&trail).await;
    }
    schema.drop().await;

    let Some(schema) = PgSchema::create().await else {
        return;
    };
    {
        let trail = Trail::from_pg_pool(schema.pool().await).await.unwrap();
        let raw = Raw::Postgres(schema.pool().await);
        tampering_is_detected(&trail, &raw).await;
    }
    schema.drop().await;

    let Some(schema) = PgSchema::create().await else {
        return;
    };
    {
        let trail = Trail::from_pg_pool(schema.pool().await).await.unwrap();
        let raw = Raw::Postgres(schema.pool().await);
        deleting_the_newest_row_is_detected(&trail, &raw).await;
    }
    schema.drop().await;

    let Some(schema) = PgSchema::create().await else {
        return;
    };
    {
        let mut trails = Vec::new();
        for _ in 0..4 {
            trails.push(Trail::from_pg_pool(schema.pool().await).await.unwrap());
        }
        concurrent_appends_do_not_fork(trails).await;
    }
    schema.drop().await;
}

/// Admin API calls as the gateway middleware records them: one entry per call, the key never
/// stored, refused calls recorded as refused.
#[tokio::test]
async fn sqlite_admin_calls_are_recorded_once_each() {
    use tidegate_audit::trail::admin::record_call;
    let dir = tempfile::tempdir().unwrap();
    let (trail, _, _) = sqlite_trail(&dir).await;
    let key = "Bearer the-admin-key-0123456789";
    let calls = [
        (
            Some(key),
            "PUT",
            "/admin/accounts/acc_9",
            201,
            actions::ACCOUNT_PUT,
            "ok",
        ),
        (
            Some(key),
            "POST",
            "/admin/accounts/acc_9/refresh",
            502,
            actions::ACCOUNT_REFRESH,
            "failed",
        ),
        (
            Some("Bearer wrong"),
            "DELETE",
            "/admin/accounts/acc_9",
            401,
            actions::ACCOUNT_DELETE,
            "refused",
        ),
        (
            Some(key),
            "DELETE",
            "/admin/accounts/acc_9",
            204,
            actions::ACCOUNT_DELETE,
            "ok",
        ),
        (
            None,
            "GET",
            "/admin/breakers",
            401,
            actions::ADMIN_REQUEST,
            "refused",
        ),
    ];
    for (auth, method, path, status, _, _) in calls {
        record_call(&trail, auth, method, path, status)
            .await
            .unwrap();
    }
    let entries = trail.entries().await.unwrap();
    assert_eq!(entries.len(), calls.len());
    for (e, (_, _, _, status, action, outcome)) in entries.iter().zip(calls) {
        assert_eq!(e.action, action);
        assert_eq!(e.outcome, outcome);
        assert_eq!(e.detail.as_deref(), Some(format!("HTTP {status}").as_str()));
        assert!(!e.actor.contains("the-admin-key") && !e.actor.contains("wrong"));
    }
    assert_eq!(
        entries[0].actor,
        Actor::admin_key("the-admin-key-0123456789").as_str()
    );
    assert_ne!(
        entries[2].actor, entries[0].actor,
        "a wrong key has another id"
    );
    assert!(trail.verify().await.unwrap().is_ok());
}
