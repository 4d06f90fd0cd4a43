//! The same store contract, run against SQLite and PostgreSQL.

use std::sync::Arc;

use tidegate_vault::store::{AccountRecord, AccountStatus, ConnectState, PutOutcome, Store};

use crate::support::{PgSchema, sqlite_store};

fn record(id: &str, expires_at: Option<i64>) -> AccountRecord {
    AccountRecord {
        id: id.into(),
        connector: "crm".into(),
        environment: "production".into(),
        auth_type: "oauth2".into(),
        status: AccountStatus::Active,
        status_reason: None,
        credentials: vec![1, 2, 3],
        wrapped_key: vec![4, 5, 6],
        key_id: "00112233aabbccdd".into(),
        expires_at,
        last_refreshed_at: None,
        refresh_count: 0,
        version: 0,
        created_at: 1,
        updated_at: 1,
    }
}

async fn exercise(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
    assert!(store.get("acc_1").await.unwrap().is_none());
    assert_eq!(
        store.put(&record("acc_1", Some(1_000))).await.unwrap(),
        PutOutcome::Created
    );
    let got = store.get("acc_1").await.unwrap().unwrap();
    assert_eq!(got.version, 1);
    assert_eq!(got.credentials, vec![1, 2, 3]);
    assert_eq!(got.expires_at, Some(1_000));

    // Replace bumps the version.
    let mut r = record("acc_1", Some(2_000));
    r.credentials = vec![9];
    assert_eq!(store.put(&r).await.unwrap(), PutOutcome::Replaced);
    let got = store.get("acc_1").await.unwrap().unwrap();
    assert_eq!(
        (got.version, got.credentials.clone(), got.expires_at),
        (2, vec![9], Some(2_000))
    );

    // CAS: the fresh writer wins, the stale writer (same expected version) is rejected.
    let mut fresh = got.clone();
    fresh.credentials = vec![7, 7];
    fresh.refresh_count = 1;
    assert!(store.compare_and_swap(&fresh, 2).await.unwrap());
    let mut stale = got.clone();
    stale.credentials = vec![6, 6];
    assert!(
        !store.compare_and_swap(&stale, 2).await.unwrap(),
        "stale writer must be rejected"
    );
    let got = store.get("acc_1").await.unwrap().unwrap();
    assert_eq!(
        (got.version, got.credentials.clone(), got.refresh_count),
        (3, vec![7, 7], 1)
    );

    // Due for refresh: only active oauth accounts with an expiry before the horizon.
    store.put(&record("acc_2", Some(50_000))).await.unwrap();
    store.put(&record("acc_3", None)).await.unwrap();
    let mut dead = record("acc_4", Some(10));
    dead.status = AccountStatus::NeedsReauth;
    store.put(&dead).await.unwrap();
    let due = store.due_for_refresh(10_000).await.unwrap();
    assert_eq!(due, vec![("acc_1".to_owned(), "crm".to_owned(), 2_000)]);
    assert_eq!(
        store
            .list()
            .await
            .unwrap()
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        ["acc_1", "acc_2", "acc_3", "acc_4"]
    );
    assert_eq!(
        store.get("acc_4").await.unwrap().unwrap().status,
        AccountStatus::NeedsReauth
    );
    // Counts per (connector, status), for the accounts gauge.
    let mut counts = store.count_by_status().await.unwrap();
    counts.sort_by_key(|(c, s, _)| (c.clone(), s.as_str()));
    assert_eq!(
        counts,
        [
            ("crm".to_owned(), AccountStatus::Active, 3),
            ("crm".to_owned(), AccountStatus::NeedsReauth, 1)
        ]
    );

    // Delete.
    assert!(store.delete("acc_1").await.unwrap());
    assert!(!store.delete("acc_1").await.unwrap());
    assert!(store.get("acc_1").await.unwrap().is_none());

    // Connect states: single use, expiring.
    let st = |state: &str, expires_at| ConnectState {
        state: state.into(),
        connector: "crm".into(),
        environment: "production".into(),
        account_id: "acc_9".into(),
        redirect_uri: "https://app.example/back".into(),
        verifier: vec![1],
        wrapped_key: vec![2],
        expires_at,
    };
    store.put_connect_state(&st("s1", 10_000)).await.unwrap();
    store.put_connect_state(&st("s2", 10_000)).await.unwrap();
    let taken = store
        .take_connect_state("s1", 5_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.account_id, "acc_9");
    assert!(
        store
            .take_connect_state("s1", 5_000)
            .await
            .unwrap()
            .is_none(),
        "single use"
    );
    assert!(
        store
            .take_connect_state("s2", 20_000)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
}

#[tokio::test]
async fn sqlite_store_contract() {
    let (_dir, store, _) = sqlite_store().await;
    exercise(store).await;
}

#[tokio::test]
async fn sqlite_in_memory_store_contract() {
    let store = tidegate_vault::store::open_store("sqlite::memory:")
        .await
        .unwrap();
    exercise(store).await;
}

#[tokio::test]
async fn postgres_store_contract() {
    let Some(pg) = PgSchema::new().await else {
        return;
    };
    exercise(pg.store.clone()).await;
}

#[tokio::test]
async fn unsupported_url_is_a_clear_error() {
    let err = tidegate_vault::store::open_store("mysql://x")
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("sqlite://PATH or postgres://"),
        "{err}"
    );
}

/// Many concurrent writers with the same expected version, on separate pools: exactly one wins.
#[tokio::test]
async fn postgres_cas_has_exactly_one_winner() {
    let Some(pg) = PgSchema::new().await else {
        return;
    };
    pg.store.put(&record("acc_1", Some(1))).await.unwrap();
    let other = pg.another_store().await;
    let mut joins = Vec::new();
    for i in 0..20u8 {
        let store: Arc<dyn Store> = if i % 2 == 0 {
            pg.store.clone()
        } else {
            other.clone()
        };
        joins.push(tokio::spawn(async move {
            let mut r = record("acc_1", Some(1));
            r.credentials = vec![i];
            store.compare_and_swap(&r, 1).await.unwrap()
        }));
    }
    let mut wins = 0;
    for j in joins {
        wins += usize::from(j.await.unwrap());
    }
    assert_eq!(wins, 1);
    assert_eq!(pg.store.get("acc_1").await.unwrap().unwrap().version, 2);
}

#[tokio::test]
async fn sqlite_cas_has_exactly_one_winner() {
    let (_dir, store, _) = sqlite_store().await;
    store.put(&record("acc_1", Some(1))).await.unwrap();
    let mut joins = Vec::new();
    for i in 0..20u8 {
        let store = store.clone();
        joins.push(tokio::spawn(async move {
            let mut r = record("acc_1", Some(1));
            r.credentials = vec![i];
            store.compare_and_swap(&r, 1).await.unwrap()
        }));
    }
    let mut wins = 0;
    for j in joins {
        wins += usize::from(j.await.unwrap());
    }
    assert_eq!(wins, 1);
}
