//! Canary scan: after real refreshes, the SQLite files and the Redis keyspace contain no
//! plaintext token, key or password (searched as raw bytes).

use std::{sync::Arc, time::Duration};

use tidegate_crypto::MasterKey;
use tidegate_vault::{
    VaultOptions,
    lock::{LocalLock, RedisLock, RefreshLock},
};

use crate::{
    crypto::contains,
    refresh::{ScriptedTokens, token_url},
    support::{
        CollectingSink, RedisFixture, fast_options, put_oauth, random_hex, scan_redis,
        sqlite_store, vault,
    },
};

fn db_bytes(path: &std::path::Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    for suffix in ["-wal", "-shm", "-journal"] {
        if let Ok(more) = std::fs::read(format!("{}{suffix}", path.display())) {
            bytes.extend(more);
        }
    }
    bytes
}

#[tokio::test]
async fn no_plaintext_secret_reaches_sqlite_or_redis() {
    let canary = format!("CANARY{}", random_hex(8));
    let tokens = ScriptedTokens::issuing(&canary, true);
    let server = tokens.mount().await;
    let redis = RedisFixture::new();
    let lock: Arc<dyn RefreshLock> = match &redis {
        Some(fx) => Arc::new(RedisLock::new(&fx.url).unwrap()),
        None => Arc::new(LocalLock::new()),
    };
    let opts = VaultOptions {
        lock_prefix: redis
            .as_ref()
            .map_or_else(|| "local:".into(), |r| r.prefix.clone()),
        ..fast_options()
    };
    let (_dir, store, path) = sqlite_store().await;
    let v = vault(
        store,
        lock,
        MasterKey::generate(),
        &token_url(&server),
        Arc::new(CollectingSink::default()),
        opts,
    );

    v.put_account(
        "acc_oauth",
        put_oauth(
            &format!("{canary}-initial-at"),
            &format!("{canary}-initial-rt"),
            "2020-01-01T00:00:00Z",
        ),
    )
    .await
    .unwrap();
    let put = |c: serde_json::Value| serde_json::from_value(c).unwrap();
    v.put_account("acc_key", put(serde_json::json!({"connector":"keyed","environment":"production","credentials":{"api_key": format!("{canary}-apikey")}}))).await.unwrap();
    v.put_account("acc_basic", put(serde_json::json!({"connector":"plain","environment":"production","credentials":{"username":"u","password": format!("{canary}-password")}}))).await.unwrap();
    for _ in 0..3 {
        v.refresh_now("acc_oauth").await.unwrap();
    }
    v.credential("acc_key", "keyed", None).await.unwrap();
    v.credential("acc_basic", "plain", None).await.unwrap();
    assert_eq!(tokens.calls.load(std::sync::atomic::Ordering::SeqCst), 3);
    tokio::time::sleep(Duration::from_millis(50)).await;

    let bytes = db_bytes(&path);
    assert!(bytes.len() > 4096, "scanned the real database file");
    assert!(
        !contains(&bytes, canary.as_bytes()),
        "a plaintext secret was found in the SQLite files"
    );
    // Positive control: the same scan finds the canary when it is there.
    assert!(contains(
        format!("xx{canary}-apikeyxx").as_bytes(),
        canary.as_bytes()
    ));

    if let Some(fx) = &redis {
        // Hold a lock so the keyspace has something of ours in it while scanning.
        let key = format!("{}acc_oauth", fx.prefix);
        assert!(
            fx.lock
                .try_acquire(&key, "owner", Duration::from_secs(30))
                .await
                .unwrap()
        );
        let ours = fx.keys_and_values().await;
        assert!(!ours.is_empty());
        for (k, v) in scan_redis(&fx.url, "*").await {
            assert!(!k.contains(&canary), "canary in a Redis key name");
            if let Some(v) = v {
                assert!(
                    !contains(&v, canary.as_bytes()),
                    "canary in the value of Redis key {k}"
                );
            }
        }
    } else {
        eprintln!("SKIPPED: Redis keyspace canary scan (set TIDEGATE_TEST_REDIS_URL)");
    }
}
