//! Encryption at rest through the vault: tampering, AAD binding, rotation, crypto-shredding.

use std::sync::Arc;

use tidegate_crypto::{CryptoError, MasterKey};
use tidegate_vault::{PutAccount, Vault, VaultError, credentials::Credentials, store::Store};

use crate::support::{CollectingSink, fast_options, local_lock, sqlite_store, vault};

fn api_key(key: &str) -> PutAccount {
    serde_json::from_value(serde_json::json!({
        "connector": "keyed", "environment": "production", "credentials": { "api_key": key }
    }))
    .unwrap()
}

fn crypto_err(e: VaultError) -> Arc<CryptoError> {
    match e {
        VaultError::Crypto(c) => c,
        other => panic!("expected a crypto error, got {other}"),
    }
}

fn new_vault(store: Arc<dyn Store>, kek: MasterKey) -> Vault {
    vault(
        store,
        local_lock(),
        kek,
        "http://127.0.0.1:9/token",
        Arc::new(CollectingSink::default()),
        fast_options(),
    )
}

#[tokio::test]
async fn a_flipped_ciphertext_byte_is_reported_as_tampered() {
    let (_d, store, _) = sqlite_store().await;
    let v = new_vault(store.clone(), MasterKey::generate());
    v.put_account("acc_1", api_key("k-1")).await.unwrap();
    let mut rec = store.get("acc_1").await.unwrap().unwrap();
    let last = rec.credentials.len() - 1;
    rec.credentials[last] ^= 1;
    assert!(store.compare_and_swap(&rec, rec.version).await.unwrap());
    let err = v.credential("acc_1", "keyed", None).await.unwrap_err();
    assert!(
        matches!(*crypto_err(err.clone()), CryptoError::Tampered),
        "{err}"
    );
    // Callers see an internal error, never the crypto detail.
    let core: tidegate_core::Error = err.into();
    assert_eq!(core.code(), tidegate_core::ErrorCode::InternalError);
}

#[tokio::test]
async fn ciphertext_and_key_moved_to_another_account_fail_authentication() {
    let (_d, store, _) = sqlite_store().await;
    let v = new_vault(store.clone(), MasterKey::generate());
    v.put_account("acc_a", api_key("secret-a")).await.unwrap();
    v.put_account("acc_b", api_key("secret-b")).await.unwrap();
    let a = store.get("acc_a").await.unwrap().unwrap();
    let mut b = store.get("acc_b").await.unwrap().unwrap();
    // An attacker with database write access copies A's sealed data onto B's row.
    b.credentials = a.credentials.clone();
    b.wrapped_key = a.wrapped_key.clone();
    assert!(store.compare_and_swap(&b, b.version).await.unwrap());
    let err = v.credential("acc_b", "keyed", None).await.unwrap_err();
    assert!(
        matches!(*crypto_err(err), CryptoError::Tampered),
        "wrong AAD (account id) must fail"
    );
    // Only the ciphertext moved (B's own data key kept): a different data key id.
    let mut b = store.get("acc_b").await.unwrap().unwrap();
    v.put_account("acc_b", api_key("secret-b")).await.unwrap();
    let fresh_b = store.get("acc_b").await.unwrap().unwrap();
    b.wrapped_key = fresh_b.wrapped_key.clone();
    b.credentials = a.credentials.clone();
    assert!(store.compare_and_swap(&b, fresh_b.version).await.unwrap());
    v.invalidate("acc_b");
    let err = v.credential("acc_b", "keyed", None).await.unwrap_err();
    assert!(matches!(*crypto_err(err), CryptoError::WrongKeyId { .. }));
}

#[tokio::test]
async fn a_different_master_key_is_reported_as_wrong_key_id() {
    let (_d, store, _) = sqlite_store().await;
    let old = MasterKey::generate();
    new_vault(store.clone(), old.clone())
        .put_account("acc_1", api_key("k"))
        .await
        .unwrap();
    let other = MasterKey::generate();
    let err = new_vault(store.clone(), other.clone())
        .credential("acc_1", "keyed", None)
        .await
        .unwrap_err();
    match &*crypto_err(err) {
        CryptoError::WrongKeyId { expected, found } => {
            assert_eq!(expected, &other.id());
            assert_eq!(found, &old.id());
        }
        e => panic!("unexpected {e}"),
    }
}

#[tokio::test]
async fn rotation_rewraps_every_account_and_they_still_decrypt() {
    let (_d, store, _) = sqlite_store().await;
    let old = MasterKey::generate();
    let v_old = new_vault(store.clone(), old.clone());
    for i in 0..5 {
        v_old
            .put_account(&format!("acc_{i}"), api_key(&format!("key-{i}")))
            .await
            .unwrap();
    }
    let before: Vec<_> = store.list().await.unwrap();
    let new = MasterKey::generate();

    // Without the old key, rotation reports every account as failed, changing nothing.
    let report = new_vault(store.clone(), new.clone())
        .rotate_keys()
        .await
        .unwrap();
    assert_eq!(report.rewrapped, 0);
    assert_eq!(report.failed.len(), 5);
    assert!(
        report.failed[0].1.contains(&old.id()),
        "{:?}",
        report.failed[0]
    );

    let rotating = tidegate_vault::Vault::builder(store.clone(), local_lock(), new.clone())
        .connector(
            "keyed",
            tidegate_vault::ConnectorAuth::ApiKey {
                header: None,
                query: None,
                prefix: None,
            },
        )
        .previous_key(old.clone())
        .build();
    let report = rotating.rotate_keys().await.unwrap();
    assert_eq!(
        (
            report.rewrapped,
            report.already_current,
            report.failed.len()
        ),
        (5, 0, 0)
    );
    let again = rotating.rotate_keys().await.unwrap();
    assert_eq!((again.rewrapped, again.already_current), (0, 5));

    // The ciphertexts were not touched (no plaintext rewritten); only wrapped keys changed.
    let after: Vec<_> = store.list().await.unwrap();
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b.credentials, a.credentials);
        assert_ne!(b.wrapped_key, a.wrapped_key);
        assert_eq!(a.key_id, new.id());
    }
    // With only the new key, everything decrypts; with only the old one, nothing does.
    let v_new = new_vault(store.clone(), new);
    for i in 0..5 {
        let creds = v_new
            .decrypt_credentials(&format!("acc_{i}"))
            .await
            .unwrap();
        assert_eq!(
            creds,
            Credentials::ApiKey {
                api_key: format!("key-{i}")
            }
        );
    }
    let err = new_vault(store.clone(), old)
        .decrypt_credentials("acc_0")
        .await
        .unwrap_err();
    assert!(matches!(*crypto_err(err), CryptoError::WrongKeyId { .. }));
}

#[tokio::test]
async fn delete_shreds_the_data_key() {
    let (_d, store, path) = sqlite_store().await;
    let kek = MasterKey::generate();
    let v = new_vault(store.clone(), kek.clone());
    v.put_account("acc_1", api_key("shred-me")).await.unwrap();
    let old = store.get("acc_1").await.unwrap().unwrap();
    assert!(v.delete_account("acc_1").await.unwrap());
    assert!(v.account("acc_1").await.unwrap().is_none());
    assert!(matches!(
        v.credential("acc_1", "keyed", None).await,
        Err(VaultError::UnknownAccount)
    ));

    // The wrapped data key is gone from the database files (secure_delete + WAL checkpoint),
    // so a ciphertext that survived elsewhere (a log, a copied page) cannot be opened with
    // the master key: there is no data key left to unwrap.
    let mut bytes = std::fs::read(&path).unwrap();
    for suffix in ["-wal", "-shm"] {
        if let Ok(more) = std::fs::read(format!("{}{suffix}", path.display())) {
            bytes.extend(more);
        }
    }
    assert!(
        !contains(&bytes, &old.wrapped_key),
        "wrapped data key still on disk after delete"
    );
    assert!(
        !contains(&bytes, &old.credentials),
        "ciphertext still on disk after delete"
    );

    // Re-creating the same id yields a new data key: the old ciphertext does not open with it.
    v.put_account("acc_1", api_key("new")).await.unwrap();
    let new = store.get("acc_1").await.unwrap().unwrap();
    let dk = kek
        .unwrap(
            &new.wrapped_key,
            &tidegate_vault::credentials::data_key_aad("acc_1"),
        )
        .unwrap();
    let err = tidegate_vault::credentials::open_with(&dk, "acc_1", &old.credentials).unwrap_err();
    assert!(matches!(err, CryptoError::WrongKeyId { .. }));
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}
