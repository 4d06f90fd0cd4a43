//! Fault injection: a refresh holder that stalls past its lock TTL.
//!
//! Two stall points, driven by `RefreshHooks` and `Notify`s (no sleeps decide the outcome):
//! - before the token call, against the real oidc-provider (which revokes the grant if a
//!   rotated-out refresh token is replayed): the stale holder notices it lost the lock and
//!   does not spend the refresh token, so nothing is revoked and nothing is lost;
//! - after the token call, before the write, against a provider with a reuse grace window: the
//!   stale holder's write is rejected by the version check and the newer token stays stored.
//!
//! (kill -9 of a real gateway process mid-refresh comes with the gateway's multi-process tests.)

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tidegate_crypto::MasterKey;
use tidegate_vault::{
    ConnectorAuth, RefreshHooks, Vault, VaultOptions,
    credentials::Credentials,
    lock::{LocalLock, RedisLock, RefreshLock},
    store::{AccountStatus, Store},
};
use tokio::sync::Notify;

use crate::{
    oidc::Oidc,
    refresh::{ScriptedTokens, token_url},
    support::{RedisFixture, expired_oauth, fast_options, oauth, sqlite_store},
};

/// Stalls the first refresh at one point until released.
#[derive(Default)]
struct Stall {
    at_token_call: bool,
    reached: Notify,
    release: Notify,
    fired: AtomicBool,
}

impl Stall {
    fn new(at_token_call: bool) -> Arc<Self> {
        Arc::new(Self {
            at_token_call,
            ..Self::default()
        })
    }

    fn stall(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            if !self.fired.swap(true, Ordering::SeqCst) {
                self.reached.notify_one();
                self.release.notified().await;
            }
        })
    }
}

impl RefreshHooks for Stall {
    fn before_token_call<'a>(
        &'a self,
        _: &'a str,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        if self.at_token_call {
            self.stall()
        } else {
            Box::pin(async {})
        }
    }
    fn before_store_write<'a>(
        &'a self,
        _: &'a str,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        if self.at_token_call {
            Box::pin(async {})
        } else {
            self.stall()
        }
    }
}

/// Redis when configured (the production multi-process setup), else one shared local lock.
fn shared_lock(redis: &Option<RedisFixture>) -> Arc<dyn RefreshLock> {
    match redis {
        Some(fx) => Arc::new(RedisLock::new(&fx.url).unwrap()),
        None => {
            eprintln!(
                "NOTE: fault test uses a shared in-process lock (set TIDEGATE_TEST_REDIS_URL for Redis)"
            );
            Arc::new(LocalLock::new())
        }
    }
}

fn two_vaults(
    store: Arc<dyn Store>,
    redis: &Option<RedisFixture>,
    token_url: &str,
    stall: Arc<Stall>,
) -> (Vault, Vault) {
    let kek = MasterKey::generate();
    let prefix = redis
        .as_ref()
        .map(|r| r.prefix.clone())
        .unwrap_or_else(|| "local:".into());
    let auth = ConnectorAuth::OAuth2(oauth(token_url));
    let lock = shared_lock(redis);
    let stale_opts = VaultOptions {
        lock_prefix: prefix.clone(),
        lock_ttl_override: Some(Duration::from_millis(250)),
        ..fast_options()
    };
    let a = Vault::builder(store.clone(), lock.clone(), kek.clone())
        .connector("crm", auth.clone())
        .options(stale_opts)
        .hooks(stall)
        .build();
    let b_lock = if redis.is_some() {
        shared_lock(redis)
    } else {
        lock
    };
    let b_opts = VaultOptions {
        lock_prefix: prefix,
        ..fast_options()
    };
    let b = Vault::builder(store, b_lock, kek)
        .connector("crm", auth)
        .options(b_opts)
        .build();
    (a, b)
}

fn access(c: &tidegate_vault::Credential) -> String {
    c.with_access_token(str::to_owned).unwrap()
}

#[tokio::test]
async fn a_holder_stalled_before_the_token_call_does_not_spend_the_refresh_token() {
    let Some(oidc) = Oidc::start().await else {
        return;
    };
    let redis = RedisFixture::new();
    let (_d, store, _) = sqlite_store().await;
    let stall = Stall::new(true);
    let (a, b) = two_vaults(store.clone(), &redis, &oidc.token_url(), stall.clone());
    a.put_account("acc_1", expired_oauth("expired-at", &oidc.mint().await))
        .await
        .unwrap();

    let a_task = {
        let a = a.clone();
        tokio::spawn(async move { a.credential("acc_1", "crm", None).await })
    };
    stall.reached.notified().await; // A holds the lock and is about to call the provider
    // B waits for A's lock to expire (250 ms TTL), then refreshes.
    let b_cred = b.credential("acc_1", "crm", None).await.unwrap();
    assert_eq!(oidc.refresh_grants().await, 1);
    stall.release.notify_one();
    let a_cred = a_task.await.unwrap().unwrap();

    assert_eq!(
        access(&a_cred),
        access(&b_cred),
        "A took B's token instead of refreshing again"
    );
    assert_eq!(
        oidc.refresh_grants().await,
        1,
        "the stale holder never called the provider"
    );
    assert_eq!(a.stats().token_calls.load(Ordering::SeqCst), 0);
    // The stored refresh token is the live one: a further refresh succeeds (no revocation).
    let info = b.refresh_now("acc_1").await.unwrap();
    assert_eq!(
        (info.status, info.refresh_count),
        (AccountStatus::Active, 2)
    );
    assert_eq!(oidc.refresh_grants().await, 2);
}

#[tokio::test]
async fn a_holder_stalled_before_its_write_is_fenced_by_the_version_check() {
    // A provider with a reuse grace window (Shopify/Xero-like): every issued refresh token
    // stays usable, so both holders get new tokens and only the fence decides what is stored.
    let tokens = ScriptedTokens::issuing("g", true);
    let server = tokens.mount().await;
    let redis = RedisFixture::new();
    let (_d, store, _) = sqlite_store().await;
    let stall = Stall::new(false);
    let (a, b) = two_vaults(store.clone(), &redis, &token_url(&server), stall.clone());
    a.put_account("acc_1", expired_oauth("expired-at", "rt-0"))
        .await
        .unwrap();

    let a_task = {
        let a = a.clone();
        tokio::spawn(async move { a.credential("acc_1", "crm", None).await })
    };
    stall.reached.notified().await; // A got g-at-1/g-rt-1 and stalls before writing
    let b_cred = b.credential("acc_1", "crm", None).await.unwrap();
    assert_eq!(access(&b_cred), "g-at-2");
    stall.release.notify_one();
    let a_cred = a_task.await.unwrap().unwrap();

    assert_eq!(
        a.stats().stale_writes_rejected.load(Ordering::SeqCst),
        1,
        "A's late write was rejected"
    );
    assert_eq!(
        access(&a_cred),
        "g-at-2",
        "A serves the newer stored token, not its own stale one"
    );
    match &b.decrypt_credentials("acc_1").await.unwrap() {
        Credentials::OAuth2 {
            access_token,
            refresh_token,
            ..
        } => {
            assert_eq!(access_token.as_str(), "g-at-2");
            assert_eq!(
                refresh_token.as_deref(),
                Some("g-rt-2"),
                "the newest refresh token is the stored one"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(b.account("acc_1").await.unwrap().unwrap().refresh_count, 1);
}
