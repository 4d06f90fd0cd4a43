use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use super::{Breaker, BreakerSettings, BreakerState};

/// Every breaker of a gateway (or an in-process client), by key. Shared by all connector
/// stacks; read by `GET /admin/breakers` and `/metrics`. Cheap to clone.
///
/// The registry is touched only when a breaker is created (first call for a key) and when a
/// snapshot is taken, never on the call path, so its mutex costs nothing per call.
#[derive(Clone, Debug, Default)]
pub struct BreakerRegistry {
    breakers: Arc<Mutex<BTreeMap<Arc<str>, &'static Breaker>>>,
}

/// One row of `GET /admin/breakers` (CONTRACT §7).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BreakerSnapshot {
    /// The connector.
    pub connector: String,
    /// The connector, or `connector/account`.
    pub key: String,
    /// `closed`, `open` or `half_open`.
    pub state: BreakerState,
    /// Failures in a row so far.
    pub consecutive_failures: u32,
    /// Times opened since start.
    pub opened_count: u64,
    /// Seconds (rounded up) until a call may be admitted again; 0 when closed.
    pub retry_after_s: u64,
}

impl BreakerRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The key of a connector's (or an account's) breaker.
    pub fn key_for(connector: &str, account: Option<&str>) -> String {
        match account {
            Some(account) => format!("{connector}/{account}"),
            None => connector.to_owned(),
        }
    }

    /// The breaker for `connector` (and `account`), created with `settings` on first use.
    pub fn get_or_create(
        &self,
        connector: &str,
        account: Option<&str>,
        settings: &Arc<BreakerSettings>,
    ) -> &'static Breaker {
        let key: Arc<str> = Self::key_for(connector, account).into();
        let mut breakers = self.breakers.lock().unwrap_or_else(|e| e.into_inner());
        breakers.entry(Arc::clone(&key)).or_insert_with(|| {
            // Leaked on purpose: breakers live as long as the process (see `Breaker`).
            Box::leak(Box::new(Breaker::new(
                connector.into(),
                key,
                Arc::clone(settings),
            )))
        })
    }

    /// The breaker with this key, if it exists.
    pub fn get(&self, key: &str) -> Option<&'static Breaker> {
        let breakers = self.breakers.lock().unwrap_or_else(|e| e.into_inner());
        breakers.get(key).copied()
    }

    /// Every breaker's current state, ordered by key.
    pub fn snapshot(&self) -> Vec<BreakerSnapshot> {
        let breakers: Vec<&'static Breaker> = {
            let map = self.breakers.lock().unwrap_or_else(|e| e.into_inner());
            map.values().copied().collect()
        };
        breakers
            .iter()
            .map(|b| BreakerSnapshot {
                connector: b.connector().to_string(),
                key: b.key().to_string(),
                state: b.state(),
                consecutive_failures: b.consecutive_failures(),
                opened_count: b.opened_count(),
                retry_after_s: b.retry_after().as_secs_f64().ceil() as u64,
            })
            .collect()
    }
}
