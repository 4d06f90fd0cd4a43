//! The delivery worker: claims due events from the store under a lease, signs each attempt per
//! Standard Webhooks (`webhook-id` = event id, stable; `webhook-timestamp` = this attempt;
//! `webhook-signature` = one `v1,` entry per secret), POSTs it, and records the outcome:
//!
//! - 2xx: delivered, the row is deleted;
//! - 410: the endpoint is disabled (until its URL changes or an operator re-enables it) and the
//!   event is dead-lettered — as is every later event for that endpoint;
//! - anything else (3xx included: redirects are not followed), a timeout or a connection error:
//!   retried after the next jittered schedule delay, or later if the receiver sent
//!   `Retry-After` (capped); after the last attempt the event is dead-lettered with the policy's
//!   TTL and the sweeper deletes it when that passes.
//!
//! Every attempt logs one `tracing` event (target `tidegate::events`) with the event id,
//! attempt, status, latency and signing-key ids — never a secret or the event body. A failed
//! attempt adds `detail`: the start of the receiver's error body, or the transport error, both
//! through the one redactor ([`crate::logsafe`]), as is every error text logged here.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::future::join_all;

use crate::{
    claim::ClaimCheck,
    logsafe::{MAX_SNIPPET_BYTES, receiver_snippet, redacted_text},
    queue::{EventQueue, queue_aad},
    store::{Claimed, StoreError},
};

/// Counters of one worker (also exported as metrics by the gateway).
#[derive(Debug, Default)]
pub struct DeliveryStats {
    /// Events delivered (2xx).
    pub delivered: AtomicU64,
    /// Attempts that failed and will be retried.
    pub retried: AtomicU64,
    /// Events dead-lettered.
    pub dead_lettered: AtomicU64,
    /// Endpoints disabled by a 410.
    pub disabled: AtomicU64,
    /// Attempts that received 429.
    pub throttled: AtomicU64,
}

/// The outcome of one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// 2xx.
    Delivered,
    /// Failed; another attempt is scheduled.
    Retry,
    /// Failed for the last time, or the endpoint is gone.
    DeadLettered,
    /// The lease was lost to another worker (this worker was too slow); nothing recorded.
    LeaseLost,
}

/// One delivery worker. Run several (in one process or many, on PostgreSQL) on the same store.
#[derive(Debug)]
pub struct DeliveryWorker {
    queue: EventQueue,
    claims: Option<ClaimCheck>,
    client: reqwest::Client,
    owner: String,
    stats: Arc<DeliveryStats>,
}

impl DeliveryWorker {
    /// A worker with a unique owner token for its leases.
    pub fn new(queue: EventQueue) -> Self {
        let client = reqwest::Client::builder()
            .timeout(queue.policy().timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tidegate-events/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a reqwest client with static settings builds");
        Self {
            queue,
            claims: None,
            client,
            owner: format!("worker-{}", uuid::Uuid::now_v7().simple()),
            stats: Arc::new(DeliveryStats::default()),
        }
    }

    /// Also sweeps this claim-check store on the sweeper's schedule.
    pub fn with_claim_check(mut self, claims: ClaimCheck) -> Self {
        self.claims = Some(claims);
        self
    }

    /// This worker's counters.
    pub fn stats(&self) -> Arc<DeliveryStats> {
        self.stats.clone()
    }

    /// The lease owner token.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Claims every due row (one batch) and attempts each concurrently. Returns how many.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let policy = self.queue.policy();
        let now = self.queue.clock().now_ms();
        let claimed = self
            .queue
            .store()
            .claim_due(&self.owner, now, policy.lease, policy.batch)
            .await?;
        let n = claimed.len();
        let results = join_all(claimed.into_iter().map(|c| self.attempt(c))).await;
        for r in results {
            r?;
        }
        Ok(n)
    }

    /// Deletes dead letters and pending rows past their TTL, expired dedup ids and (when a
    /// claim check is attached) expired or consumed claim objects.
    pub async fn sweep_once(&self) -> Result<u64, StoreError> {
        let now = self.queue.clock().now_ms();
        let n = self.queue.store().sweep(now).await?;
        if n > 0 {
            tracing::info!(target: "tidegate::events", deleted = n, "swept expired events");
        }
        if let Some(c) = &self.claims
            && let Err(e) = c.sweep().await
        {
            tracing::warn!(target: "tidegate::events", error = %redacted_text(&e.to_string()),
                "claim-check sweep failed");
        }
        Ok(n)
    }

    /// Runs until `shutdown` resolves: delivers due events, waits for new ones (or `poll`),
    /// and sweeps every `sweep_every`.
    pub async fn run(
        self,
        poll: Duration,
        sweep_every: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let wake = self.queue.wake().clone();
        let mut last_sweep = Instant::now() - sweep_every;
        loop {
            if last_sweep.elapsed() >= sweep_every {
                if let Err(e) = self.sweep_once().await {
                    tracing::warn!(target: "tidegate::events", error = %redacted_text(&e.to_string()),
                        "event sweep failed");
                }
                last_sweep = Instant::now();
            }
            let busy = match self.run_once().await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::warn!(target: "tidegate::events", error = %redacted_text(&e.to_string()),
                        "delivery round failed");
                    false
                }
            };
            if busy {
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = tokio::task::yield_now() => {}
                }
                continue;
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }

    async fn attempt(&self, c: Claimed) -> Result<AttemptOutcome, StoreError> {
        let store = self.queue.store();
        let policy = self.queue.policy().clone();
        let clock = self.queue.clock().clone();
        let attempt_no = c.attempts + 1;
        let Some(endpoint) = self.queue.endpoints().get(&c.environment).cloned() else {
            return self
                .dead(&c, attempt_no - 1, None, "environment has no webhook_url")
                .await;
        };
        if store.is_disabled(&c.environment, &endpoint.url).await? {
            return self
                .dead(&c, attempt_no - 1, None, "endpoint disabled after 410")
                .await;
        }
        let sealed = crate::envelope::Sealed {
            wrapped_key: c.wrapped_key.clone(),
            ciphertext: c.sealed.clone(),
        };
        let body = match self.queue.envelope().open(&queue_aad(&c.id), &sealed) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(target: "tidegate::events", event_id = %c.id,
                    error = %redacted_text(&e.to_string()),
                    "queued event cannot be opened (wrong master key?)");
                return self.dead(&c, attempt_no - 1, None, "cannot decrypt").await;
            }
        };

        let ts = clock.now_ms().div_euclid(1000);
        let signature = endpoint.signer.sign(&c.id, ts, &body);
        let started = Instant::now();
        let result = self
            .client
            .post(&endpoint.url)
            .header("content-type", "application/json")
            .header("webhook-id", &c.id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(body.to_vec())
            .send()
            .await;
        let latency_ms = started.elapsed().as_millis() as u64;
        let key_ids = endpoint.signer.key_ids().join(" ");

        let (status, retry_after, error, detail) = match result {
            Ok(mut resp) => {
                let ra = resp
                    .headers()
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| crate::policy::parse_retry_after(v, clock.now()));
                let status = resp.status().as_u16();
                let detail = if (200..300).contains(&status) {
                    None
                } else {
                    Some(error_body_snippet(&mut resp).await)
                };
                (Some(status), ra, None, detail)
            }
            Err(e) => {
                let kind = if e.is_timeout() {
                    "timeout"
                } else if e.is_connect() {
                    "connect"
                } else {
                    "transport"
                };
                (None, None, Some(kind), Some(redacted_text(&e.to_string())))
            }
        };
        let detail = detail.as_deref().unwrap_or("");

        match status {
            Some(s) if (200..300).contains(&s) => {
                tracing::info!(target: "tidegate::events", event_id = %c.id, environment = %c.environment,
                    attempt = attempt_no, status = s, latency_ms, signature_key_ids = %key_ids,
                    outcome = "delivered", "event delivery attempt");
                if store.complete(&c.id, &self.owner).await? {
                    self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    tidegate_observe::metrics::webhook_delivery("delivered");
                    Ok(AttemptOutcome::Delivered)
                } else {
                    Ok(AttemptOutcome::LeaseLost)
                }
            }
            Some(410) => {
                tracing::warn!(target: "tidegate::events", event_id = %c.id, environment = %c.environment,
                    attempt = attempt_no, status = 410, latency_ms, signature_key_ids = %key_ids,
                    outcome = "endpoint_disabled", detail, "event delivery attempt");
                store
                    .disable_endpoint(&c.environment, &endpoint.url, clock.now_ms())
                    .await?;
                self.stats.disabled.fetch_add(1, Ordering::Relaxed);
                self.dead(&c, attempt_no, Some(410), "endpoint answered 410 Gone")
                    .await
            }
            _ => {
                if status == Some(429) {
                    self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                }
                let why = match (status, error) {
                    (Some(s), _) => format!("status {s}"),
                    (None, Some(e)) => e.to_owned(),
                    (None, None) => "transport".to_owned(),
                };
                // The RNG is not Send: draw before any await.
                let next_delay = policy.next_delay(attempt_no, retry_after, &mut rand::rng());
                match next_delay {
                    Some(delay) => {
                        tracing::info!(target: "tidegate::events", event_id = %c.id,
                            environment = %c.environment, attempt = attempt_no, status, latency_ms,
                            signature_key_ids = %key_ids, retry_in_ms = delay.as_millis() as u64,
                            outcome = "retry", error = %why, detail, "event delivery attempt");
                        let next = clock.now_ms() + delay.as_millis() as i64;
                        if store
                            .reschedule(&c.id, &self.owner, attempt_no, next, status, &why)
                            .await?
                        {
                            self.stats.retried.fetch_add(1, Ordering::Relaxed);
                            tidegate_observe::metrics::webhook_delivery("failed");
                            Ok(AttemptOutcome::Retry)
                        } else {
                            Ok(AttemptOutcome::LeaseLost)
                        }
                    }
                    None => {
                        tracing::info!(target: "tidegate::events", event_id = %c.id,
                            environment = %c.environment, attempt = attempt_no, status, latency_ms,
                            signature_key_ids = %key_ids, outcome = "failed_last", error = %why,
                            detail, "event delivery attempt");
                        self.dead(&c, attempt_no, status, &why).await
                    }
                }
            }
        }
    }

    async fn dead(
        &self,
        c: &Claimed,
        attempts: u32,
        status: Option<u16>,
        why: &str,
    ) -> Result<AttemptOutcome, StoreError> {
        let now = self.queue.clock().now_ms();
        let expires = now + self.queue.policy().dead_letter_ttl.as_millis() as i64;
        let ok = self
            .queue
            .store()
            .dead_letter(&c.id, &self.owner, attempts, expires, status, why)
            .await?;
        if !ok {
            return Ok(AttemptOutcome::LeaseLost);
        }
        self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
        tidegate_observe::metrics::webhook_delivery("dead_lettered");
        tracing::warn!(target: "tidegate::events", event_id = %c.id, environment = %c.environment,
            attempts, status, reason = why, "event dead-lettered");
        Ok(AttemptOutcome::DeadLettered)
    }
}

/// The start of a receiver's error body (at most [`MAX_SNIPPET_BYTES`] read), redacted, for
/// the attempt's log line; the rest is never read.
async fn error_body_snippet(resp: &mut reqwest::Response) -> String {
    let mut buf = Vec::new();
    while buf.len() < MAX_SNIPPET_BYTES {
        match resp.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    receiver_snippet(&buf)
}
