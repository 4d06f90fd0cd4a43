//! Redis lock semantics against a real Redis, and the version fence behind it.

use std::{sync::Arc, time::Duration};

use tidegate_vault::lock::{self, RefreshLock};

use crate::support::{RedisFixture, sqlite_store};

#[tokio::test]
async fn mutual_exclusion_and_owner_only_release() {
    let Some(fx) = RedisFixture::new() else {
        return;
    };
    let key = format!("{}acc_1", fx.prefix);
    let l = fx.lock.clone();
    assert!(
        l.try_acquire(&key, "owner-a", Duration::from_secs(30))
            .await
            .unwrap()
    );
    assert!(
        !l.try_acquire(&key, "owner-b", Duration::from_secs(30))
            .await
            .unwrap()
    );
    assert!(
        !l.release(&key, "owner-b").await.unwrap(),
        "a non-owner cannot release"
    );
    assert!(l.is_held(&key, "owner-a").await.unwrap());
    assert!(!l.is_held(&key, "owner-b").await.unwrap());
    assert!(l.release(&key, "owner-a").await.unwrap());
    assert!(
        l.try_acquire(&key, "owner-b", Duration::from_secs(30))
            .await
            .unwrap()
    );
    assert!(l.release(&key, "owner-b").await.unwrap());
}

#[tokio::test]
async fn ttl_expiry_lets_another_acquire() {
    let Some(fx) = RedisFixture::new() else {
        return;
    };
    let key = format!("{}acc_ttl", fx.prefix);
    let l = fx.lock.clone();
    assert!(
        l.try_acquire(&key, "owner-a", Duration::from_millis(150))
            .await
            .unwrap()
    );
    // Wait (bounded) until Redis expires the key; no timing is asserted.
    let mut acquired = false;
    for _ in 0..100 {
        if l.try_acquire(&key, "owner-b", Duration::from_secs(30))
            .await
            .unwrap()
        {
            acquired = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(acquired, "lock never expired");
    assert!(
        !l.release(&key, "owner-a").await.unwrap(),
        "the expired owner cannot release the new holder's lock"
    );
    assert!(l.is_held(&key, "owner-b").await.unwrap());
}

#[tokio::test]
async fn many_contenders_one_holder_at_a_time() {
    let Some(fx) = RedisFixture::new() else {
        return;
    };
    let dyn_lock: Arc<dyn RefreshLock> = fx.lock.clone();
    let key = format!("{}acc_mx", fx.prefix);
    let inside = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let max_inside = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut joins = Vec::new();
    for _ in 0..10 {
        let (l, key, inside, max_inside) = (
            dyn_lock.clone(),
            key.clone(),
            inside.clone(),
            max_inside.clone(),
        );
        joins.push(tokio::spawn(async move {
            let g = lock::acquire(&l, &key, Duration::from_secs(10), Duration::from_secs(20))
                .await
                .unwrap()
                .expect("acquired");
            let now = inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            max_inside.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(10)).await;
            inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            g.release().await;
        }));
    }
    for j in joins {
        j.await.unwrap();
    }
    assert_eq!(max_inside.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// A holder delayed past its TTL finds the lock gone, and its write (with the version it read)
/// is rejected because the new holder already wrote.
#[tokio::test]
async fn stale_holder_write_is_rejected_by_version() {
    let Some(fx) = RedisFixture::new() else {
        return;
    };
    let (_dir, store, _) = sqlite_store().await;
    use tidegate_vault::store::{AccountRecord, AccountStatus, Store};
    let rec = AccountRecord {
        id: "acc_1".into(),
        connector: "crm".into(),
        environment: "production".into(),
        auth_type: "oauth2".into(),
        status: AccountStatus::Active,
        status_reason: None,
        credentials: b"v1".to_vec(),
        wrapped_key: vec![0],
        key_id: "k".into(),
        expires_at: Some(1),
        last_refreshed_at: None,
        refresh_count: 0,
        version: 0,
        created_at: 0,
        updated_at: 0,
    };
    store.put(&rec).await.unwrap();
    let l: Arc<dyn RefreshLock> = fx.lock.clone();
    let key = format!("{}acc_1", fx.prefix);

    let a = lock::acquire(&l, &key, Duration::from_millis(200), Duration::from_secs(1))
        .await
        .unwrap()
        .unwrap();
    let read_by_a = store.get("acc_1").await.unwrap().unwrap();
    // A stalls; B gets the lock once A's TTL has run out.
    let b = lock::acquire(&l, &key, Duration::from_secs(10), Duration::from_secs(5))
        .await
        .unwrap()
        .expect("B acquires after A's TTL");
    let read_by_b = store.get("acc_1").await.unwrap().unwrap();
    let mut b_write = read_by_b.clone();
    b_write.credentials = b"from-b".to_vec();
    assert!(
        store
            .compare_and_swap(&b_write, read_by_b.version)
            .await
            .unwrap()
    );
    b.release().await;

    assert!(!a.is_held().await, "A's lock expired");
    let mut a_write = read_by_a.clone();
    a_write.credentials = b"from-a".to_vec();
    assert!(
        !store
            .compare_and_swap(&a_write, read_by_a.version)
            .await
            .unwrap(),
        "stale holder rejected"
    );
    assert_eq!(
        store.get("acc_1").await.unwrap().unwrap().credentials,
        b"from-b"
    );
    a.release().await; // a no-op: not the owner any more
}
