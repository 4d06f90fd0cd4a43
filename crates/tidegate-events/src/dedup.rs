//! Inbound dedup by provider event id within a window. Ids only (never payloads), each with a
//! TTL. [`StoreDedup`] keeps them in the shared database so several gateway processes agree;
//! [`MemoryDedup`] is for a single process (and the micro-benchmark).

use std::{collections::HashMap, sync::Arc, sync::Mutex, time::Duration};

use futures_util::future::BoxFuture;

use crate::{
    Clock,
    store::{EventStore, StoreError},
};

/// Remembers provider event ids for a while.
pub trait Dedup: Send + Sync + std::fmt::Debug {
    /// True the first time `(scope, id)` is seen within `window`; false for a duplicate.
    fn first_seen<'a>(
        &'a self,
        scope: &'a str,
        id: &'a str,
        window: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Forgets `(scope, id)` (when the event could not be queued, so the provider's retry is
    /// processed instead of being dropped as a duplicate).
    fn forget<'a>(&'a self, scope: &'a str, id: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// Dedup in the events store (SQLite / PostgreSQL).
#[derive(Clone, Debug)]
pub struct StoreDedup {
    store: EventStore,
    clock: Arc<dyn Clock>,
}

impl StoreDedup {
    /// Over `store`, with time from `clock`.
    pub fn new(store: EventStore, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }
}

impl Dedup for StoreDedup {
    fn first_seen<'a>(
        &'a self,
        scope: &'a str,
        id: &'a str,
        window: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            self.store
                .first_seen(scope, id, self.clock.now_ms(), window)
                .await
        })
    }

    fn forget<'a>(&'a self, scope: &'a str, id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { self.store.forget_seen(scope, id).await })
    }
}

/// Dedup in process memory (expired ids are pruned as the map grows).
#[derive(Debug)]
pub struct MemoryDedup {
    seen: Mutex<Seen>,
    clock: Arc<dyn Clock>,
}

#[derive(Debug)]
struct Seen {
    ids: HashMap<(String, String), i64>,
    /// Prune expired ids when the map reaches this size (then at twice what survives), so
    /// pruning is amortized O(1) per insert.
    prune_at: usize,
}

impl MemoryDedup {
    /// Empty, with time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            seen: Mutex::new(Seen {
                ids: HashMap::new(),
                prune_at: 4096,
            }),
            clock,
        }
    }
}

impl Dedup for MemoryDedup {
    fn first_seen<'a>(
        &'a self,
        scope: &'a str,
        id: &'a str,
        window: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let now = self.clock.now_ms();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.ids.len() >= seen.prune_at {
            seen.ids.retain(|_, exp| *exp > now);
            seen.prune_at = (seen.ids.len() * 2).max(4096);
        }
        let key = (scope.to_owned(), id.to_owned());
        let fresh = match seen.ids.get(&key) {
            Some(exp) if *exp > now => false,
            _ => {
                seen.ids.insert(key, now + window.as_millis() as i64);
                true
            }
        };
        Box::pin(async move { Ok(fresh) })
    }

    fn forget<'a>(&'a self, scope: &'a str, id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .ids
            .remove(&(scope.to_owned(), id.to_owned()));
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    #[tokio::test]
    async fn memory_dedup_window_and_forget() {
        let clock = ManualClock::new(1_000_000);
        let d = MemoryDedup::new(Arc::new(clock.clone()));
        let w = Duration::from_secs(60);
        assert!(d.first_seen("c", "a", w).await.unwrap());
        assert!(!d.first_seen("c", "a", w).await.unwrap());
        assert!(
            d.first_seen("other", "a", w).await.unwrap(),
            "scoped per connector"
        );
        d.forget("c", "a").await.unwrap();
        assert!(d.first_seen("c", "a", w).await.unwrap());
        clock.advance(Duration::from_secs(61));
        assert!(
            d.first_seen("c", "a", w).await.unwrap(),
            "expired after the window"
        );
        for i in 0..10_000 {
            d.first_seen("c", &i.to_string(), w).await.unwrap();
        }
        clock.advance(Duration::from_secs(61));
        for i in 0..10_000 {
            assert!(d.first_seen("c", &format!("n{i}"), w).await.unwrap());
        }
        let len = d.seen.lock().unwrap().ids.len();
        assert!(len <= 10_000, "expired ids were pruned ({len})");
    }
}
