//! In-process single flight: concurrent callers for the same key await one shared operation.
//!
//! The operation runs in its own task, so a caller that gives up (request cancelled) cannot
//! abort a refresh between the provider rotating the refresh token and the store persisting
//! it — which would lose the only valid refresh token.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
};

use tokio::sync::watch;

type Flights<T> = Arc<Mutex<HashMap<String, watch::Receiver<Option<T>>>>>;

/// Coalesces concurrent operations per key.
pub struct Coalescer<T> {
    inflight: Flights<T>,
}

impl<T: Clone + Send + Sync + 'static> Default for Coalescer<T> {
    fn default() -> Self {
        Self {
            inflight: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

impl<T: Clone + Send + Sync + 'static> Coalescer<T> {
    /// Runs `make()` unless an operation for `key` is already in flight, and returns its
    /// result either way. `make` is only called by the caller that starts the flight.
    pub async fn run<F, Fut>(&self, key: &str, make: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T> + Send + 'static,
    {
        let mut rx = {
            let mut map = self.inflight.lock().expect("coalescer poisoned");
            match map.get(key) {
                Some(rx) => rx.clone(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    map.insert(key.to_owned(), rx.clone());
                    let fut = make();
                    let (flights, key, mine) = (self.inflight.clone(), key.to_owned(), rx.clone());
                    tokio::spawn(async move {
                        let out = fut.await;
                        // Leave the map before publishing: a caller arriving later starts a new
                        // flight, which re-reads the store and finds the fresh token.
                        let mut map = flights.lock().expect("coalescer poisoned");
                        if map.get(&key).is_some_and(|rx| rx.same_channel(&mine)) {
                            map.remove(&key);
                        }
                        drop(map);
                        let _ = tx.send(Some(out));
                    });
                    rx
                }
            }
        };
        let out = rx.wait_for(Option::is_some).await.map(|v| v.clone());
        out.ok()
            .flatten()
            .expect("the flight task always publishes before dropping its sender")
    }

    /// Number of flights in progress.
    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.inflight.lock().expect("coalescer poisoned").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_flight() {
        let c = Arc::new(Coalescer::<u32>::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let mut joins = Vec::new();
        for _ in 0..100 {
            let (c, runs) = (c.clone(), runs.clone());
            joins.push(tokio::spawn(async move {
                c.run("acc", || async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    7
                })
                .await
            }));
        }
        for j in joins {
            assert_eq!(j.await.unwrap(), 7);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(c.in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_caller_does_not_cancel_the_flight() {
        let c = Arc::new(Coalescer::<u32>::default());
        let finished = Arc::new(AtomicUsize::new(0));
        let f2 = finished.clone();
        let first = {
            let c = c.clone();
            tokio::spawn(async move {
                c.run("acc", || async move {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    f2.fetch_add(1, Ordering::SeqCst);
                    1
                })
                .await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        first.abort();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(
            finished.load(Ordering::SeqCst),
            1,
            "the flight ran to completion"
        );
    }
}
