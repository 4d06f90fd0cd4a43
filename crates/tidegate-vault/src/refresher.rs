//! The proactive refresher: refreshes each OAuth account at `expires_at − uniform(refresh_before)`,
//! also when nobody is using it, so the request path almost never waits for a token endpoint.
//!
//! Every gateway process runs one. They do not coordinate their schedules: the per-account
//! lock plus the re-read under the lock make exactly one of them refresh per cycle, and the
//! others find the new expiry and skip.

use std::{collections::HashMap, sync::Arc, time::Duration};

use tokio::{sync::Semaphore, task::JoinHandle};

use crate::{Vault, VaultError, clock::now_ms, refresh::Mode, settings::ConnectorAuth, vault::ms};

/// The running refresher; stops when dropped.
#[derive(Debug)]
pub struct RefresherHandle(JoinHandle<()>);

impl Drop for RefresherHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One account's schedule in this process.
struct Plan {
    expires_at: i64,
    threshold_ms: i64,
    not_before: i64,
    failures: u32,
}

/// A uniformly random refresh threshold in `[min, max]` milliseconds.
pub(crate) fn jittered_threshold(window: [Duration; 2]) -> i64 {
    let (lo, hi) = (ms(window[0].min(window[1])), ms(window[0].max(window[1])));
    if hi == lo {
        lo
    } else {
        lo + (rand::random::<u64>() % (hi - lo + 1) as u64) as i64
    }
}

/// Backoff after a failed proactive refresh: 5 s doubling to 5 min.
pub(crate) fn failure_backoff(failures: u32) -> Duration {
    Duration::from_secs(5u64.saturating_mul(1 << failures.min(6)).min(300))
}

impl Vault {
    /// Starts the proactive refresher on the current runtime.
    pub fn spawn_refresher(&self) -> RefresherHandle {
        let vault = self.clone();
        RefresherHandle(tokio::spawn(async move {
            // The accounts gauge starts from the store, not from zero.
            vault.update_account_metrics_quietly().await;
            vault.run_refresher().await
        }))
    }

    async fn run_refresher(self) {
        let windows: HashMap<String, [Duration; 2]> = self
            .inner
            .connectors
            .iter()
            .filter_map(|(name, auth)| match auth {
                ConnectorAuth::OAuth2(s) => Some((name.clone(), s.refresh_before)),
                _ => None,
            })
            .collect();
        let Some(horizon) = windows.values().map(|w| ms(w[0].max(w[1]))).max() else {
            return; // no OAuth connector: nothing to refresh
        };
        let permits = Arc::new(Semaphore::new(8));
        let mut plans: HashMap<String, Plan> = HashMap::new();
        let interval = self.inner.opts.refresher_interval;
        loop {
            let jitter = 0.8 + 0.4 * rand::random::<f64>();
            tokio::time::sleep(interval.mul_f64(jitter)).await;
            let now = now_ms();
            let due = match self.inner.store.due_for_refresh(now + horizon).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "proactive refresher could not read the store");
                    continue;
                }
            };
            plans.retain(|id, _| due.iter().any(|(d, _, _)| d == id));
            for (id, connector, expires_at) in due {
                let Some(window) = windows.get(&connector) else {
                    continue;
                };
                let plan = plans.entry(id.clone()).or_insert_with(|| Plan {
                    expires_at,
                    threshold_ms: jittered_threshold(*window),
                    not_before: 0,
                    failures: 0,
                });
                if plan.expires_at != expires_at {
                    *plan = Plan {
                        expires_at,
                        threshold_ms: jittered_threshold(*window),
                        not_before: 0,
                        failures: 0,
                    };
                }
                if expires_at - now > plan.threshold_ms || now < plan.not_before {
                    continue;
                }
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    break;
                };
                // Mark as attempted; the outcome arrives via the next scan (new expiry) or here.
                plan.failures += 1;
                plan.not_before = now + ms(failure_backoff(plan.failures));
                let (vault, window_ms) = (self.clone(), plan.threshold_ms);
                tokio::spawn(async move {
                    let _permit = permit;
                    match vault.obtain(&id, Mode::Proactive { window_ms }).await {
                        Ok(_)
                        | Err(VaultError::NeedsReauth { .. })
                        | Err(VaultError::UnknownAccount) => {}
                        Err(e) => {
                            tracing::warn!(account = %id, error = %e, "proactive refresh failed; will retry with backoff")
                        }
                    }
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_stay_in_window() {
        let w = [Duration::from_secs(60), Duration::from_secs(180)];
        let mut seen_low = false;
        let mut seen_high = false;
        for _ in 0..2000 {
            let t = jittered_threshold(w);
            assert!((60_000..=180_000).contains(&t), "{t}");
            seen_low |= t < 90_000;
            seen_high |= t > 150_000;
        }
        assert!(seen_low && seen_high, "jitter covers the window");
        assert_eq!(jittered_threshold([Duration::from_secs(5); 2]), 5000);
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(failure_backoff(0), Duration::from_secs(5));
        assert_eq!(failure_backoff(1), Duration::from_secs(10));
        assert_eq!(failure_backoff(20), Duration::from_secs(300));
    }
}
