//! The per-account refresh mutex across processes: `local` (in-process) or Redis.
//!
//! Both follow the same contract: a lock has an **owner token** (random per acquisition) and a
//! **TTL**; only the owner can release it; an expired lock can be taken by anyone. A lock alone
//! cannot stop a holder that stalled past its TTL from acting late, so every token write is
//! also fenced by the store's compare-and-swap on the account version.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::time::Instant;

/// A boxed future returning a lock result.
pub type LockFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, LockError>> + Send + 'a>>;

/// The lock backend could not be reached.
#[derive(Debug, Clone, thiserror::Error)]
#[error("lock backend: {0}")]
pub struct LockError(pub String);

impl From<redis::RedisError> for LockError {
    fn from(e: redis::RedisError) -> Self {
        LockError(e.to_string())
    }
}

/// A mutual-exclusion backend with owner tokens and TTLs.
pub trait RefreshLock: Send + Sync + 'static {
    /// Takes `key` for `owner` for `ttl` if nobody holds it. `Ok(false)`: held by someone else.
    fn try_acquire<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> LockFuture<'a, bool>;
    /// Releases `key` only if `owner` still holds it (compare-and-delete).
    fn release<'a>(&'a self, key: &'a str, owner: &'a str) -> LockFuture<'a, bool>;
    /// Whether `owner` still holds `key` (its TTL has not run out and nobody took it over).
    fn is_held<'a>(&'a self, key: &'a str, owner: &'a str) -> LockFuture<'a, bool>;
    /// A cheap round trip, for `/readyz`.
    fn ping(&self) -> LockFuture<'_, ()>;
}

/// A random owner token (128 bits, hex).
pub fn new_owner_token() -> String {
    let mut b = [0u8; 16];
    tidegate_crypto::fill_random(&mut b);
    hex::encode(b)
}

/// A held lock. Release it with [`LockGuard::release`]; if dropped unreleased it is released
/// in the background (or simply expires).
pub struct LockGuard {
    lock: Arc<dyn RefreshLock>,
    key: String,
    owner: String,
    released: bool,
}

impl LockGuard {
    /// Whether this guard still holds its lock.
    pub async fn is_held(&self) -> bool {
        self.lock
            .is_held(&self.key, &self.owner)
            .await
            .unwrap_or(false)
    }

    /// Releases the lock (only if still ours).
    pub async fn release(mut self) {
        self.released = true;
        if let Err(e) = self.lock.release(&self.key, &self.owner).await {
            tracing::warn!(error = %e, "refresh lock release failed; it will expire by TTL");
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let (lock, key, owner) = (
                self.lock.clone(),
                std::mem::take(&mut self.key),
                std::mem::take(&mut self.owner),
            );
            handle.spawn(async move {
                let _ = lock.release(&key, &owner).await;
            });
        }
    }
}

/// Waits up to `wait` for `key`, polling with capped exponential backoff (jittered).
/// `Ok(None)`: still held by someone else when the wait ran out.
pub async fn acquire(
    lock: &Arc<dyn RefreshLock>,
    key: &str,
    ttl: Duration,
    wait: Duration,
) -> Result<Option<LockGuard>, LockError> {
    let owner = new_owner_token();
    let deadline = Instant::now() + wait;
    let mut delay = Duration::from_millis(5);
    loop {
        if lock.try_acquire(key, &owner, ttl).await? {
            return Ok(Some(LockGuard {
                lock: lock.clone(),
                key: key.to_owned(),
                owner,
                released: false,
            }));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        let jitter =
            Duration::from_micros(rand::random::<u64>() % (delay.as_micros() as u64 / 2 + 1));
        tokio::time::sleep((delay + jitter).min(deadline - now)).await;
        delay = (delay * 2).min(Duration::from_millis(100));
    }
}

/// In-process locks (`locks.url = "local"`): correct for one process, with the same TTL and
/// owner semantics as Redis so the refresh logic is identical.
#[derive(Default)]
pub struct LocalLock {
    held: Mutex<HashMap<String, (String, Instant)>>,
}

impl LocalLock {
    /// An empty lock table.
    pub fn new() -> Self {
        Self::default()
    }
}

impl RefreshLock for LocalLock {
    fn try_acquire<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> LockFuture<'a, bool> {
        Box::pin(async move {
            let now = Instant::now();
            let mut held = self.held.lock().expect("lock table poisoned");
            match held.get(key) {
                Some((_, until)) if *until > now => Ok(false),
                _ => {
                    held.insert(key.to_owned(), (owner.to_owned(), now + ttl));
                    Ok(true)
                }
            }
        })
    }

    fn release<'a>(&'a self, key: &'a str, owner: &'a str) -> LockFuture<'a, bool> {
        Box::pin(async move {
            let mut held = self.held.lock().expect("lock table poisoned");
            if held.get(key).is_some_and(|(o, _)| o == owner) {
                held.remove(key);
                Ok(true)
            } else {
                Ok(false)
            }
        })
    }

    fn is_held<'a>(&'a self, key: &'a str, owner: &'a str) -> LockFuture<'a, bool> {
        Box::pin(async move {
            let held = self.held.lock().expect("lock table poisoned");
            Ok(held
                .get(key)
                .is_some_and(|(o, until)| o == owner && *until > Instant::now()))
        })
    }

    fn ping(&self) -> LockFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}

/// Compare-and-delete: release only if the value is still our owner token.
const RELEASE_SCRIPT: &str = r#"if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end"#;

/// Redis locks: `SET key owner NX PX ttl`, released by a compare-and-delete script.
pub struct RedisLock {
    client: redis::Client,
    conn: tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>,
    release: redis::Script,
}

impl RedisLock {
    /// A lock backend on `url` (`redis://host:port[/db]`). Connects lazily.
    pub fn new(url: &str) -> Result<Self, LockError> {
        Ok(Self {
            client: redis::Client::open(url)?,
            conn: tokio::sync::Mutex::new(None),
            release: redis::Script::new(RELEASE_SCRIPT),
        })
    }

    /// A connection, (re)connecting if the last one failed.
    async fn conn(&self) -> Result<redis::aio::MultiplexedConnection, LockError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = self.client.get_multiplexed_async_connection().await?;
        *slot = Some(c.clone());
        Ok(c)
    }

    async fn forget_conn(&self) {
        *self.conn.lock().await = None;
    }

    async fn with_conn<T, F, Fut>(&self, f: F) -> Result<T, LockError>
    where
        F: FnOnce(redis::aio::MultiplexedConnection) -> Fut,
        Fut: Future<Output = Result<T, redis::RedisError>>,
    {
        let conn = self.conn().await?;
        match f(conn).await {
            Ok(v) => Ok(v),
            Err(e) => {
                if e.is_io_error() || e.is_connection_dropped() {
                    self.forget_conn().await;
                }
                Err(e.into())
            }
        }
    }
}

impl RefreshLock for RedisLock {
    fn try_acquire<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> LockFuture<'a, bool> {
        Box::pin(async move {
            let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            self.with_conn(|mut c| async move {
                let set: Option<String> = redis::cmd("SET")
                    .arg(key)
                    .arg(owner)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(&mut c)
                    .await?;
                Ok(set.is_some())
            })
            .await
        })
    }

    fn release<'a>(&'a self, key: &'a str, owner: &'a str) -> LockFuture<'a, bool> {
        Box::pin(async move {
            self.with_conn(|mut c| async move {
                let n: i64 = self
                    .release
                    .key(key)
                    .arg(owner)
                    .invoke_async(&mut c)
                    .await?;
                Ok(n == 1)
            })
            .await
        })
    }

    fn is_held<'a>(&'a self, key: &'a str, owner: &'a str) -> LockFuture<'a, bool> {
        Box::pin(async move {
            self.with_conn(|mut c| async move {
                let v: Option<String> = redis::cmd("GET").arg(key).query_async(&mut c).await?;
                Ok(v.as_deref() == Some(owner))
            })
            .await
        })
    }

    fn ping(&self) -> LockFuture<'_, ()> {
        Box::pin(async move {
            self.with_conn(|mut c| async move {
                let _: String = redis::cmd("PING").query_async(&mut c).await?;
                Ok(())
            })
            .await
        })
    }
}

/// Opens the lock backend named by `locks.url`: `local` or `redis://...`.
pub fn open_lock(url: &str) -> Result<Arc<dyn RefreshLock>, LockError> {
    if url == "local" {
        Ok(Arc::new(LocalLock::new()))
    } else if url.starts_with("redis://") || url.starts_with("rediss://") {
        Ok(Arc::new(RedisLock::new(url)?))
    } else {
        Err(LockError(format!(
            "unsupported locks.url scheme {:?}: use \"local\" or redis://host:port",
            url.split(':').next().unwrap_or("")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn local_lock_semantics() {
        let lock: Arc<dyn RefreshLock> = Arc::new(LocalLock::new());
        assert!(
            lock.try_acquire("k", "a", Duration::from_secs(10))
                .await
                .unwrap()
        );
        assert!(
            !lock
                .try_acquire("k", "b", Duration::from_secs(10))
                .await
                .unwrap(),
            "mutual exclusion"
        );
        assert!(
            !lock.release("k", "b").await.unwrap(),
            "only the owner releases"
        );
        assert!(lock.is_held("k", "a").await.unwrap());
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(!lock.is_held("k", "a").await.unwrap(), "TTL ran out");
        assert!(
            lock.try_acquire("k", "b", Duration::from_secs(10))
                .await
                .unwrap(),
            "expired lock is free"
        );
        assert!(
            !lock.release("k", "a").await.unwrap(),
            "stale owner cannot release the new holder's lock"
        );
        assert!(lock.release("k", "b").await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn acquire_waits_for_release() {
        let lock: Arc<dyn RefreshLock> = Arc::new(LocalLock::new());
        let g = acquire(&lock, "k", Duration::from_secs(30), Duration::from_secs(1))
            .await
            .unwrap()
            .unwrap();
        assert!(
            acquire(
                &lock,
                "k",
                Duration::from_secs(30),
                Duration::from_millis(200)
            )
            .await
            .unwrap()
            .is_none()
        );
        let waiter = {
            let lock = lock.clone();
            tokio::spawn(async move {
                acquire(&lock, "k", Duration::from_secs(30), Duration::from_secs(5)).await
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        g.release().await;
        assert!(waiter.await.unwrap().unwrap().is_some());
    }
}
