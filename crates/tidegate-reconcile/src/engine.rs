//! One reconciliation run of one (connector, account): page through the connector's list
//! endpoint through its own stack, compare every (id, version) with the ledger, announce what
//! was missed, and move the cursor page by page.
//!
//! The caller owns rate-limit backoff (ARCHITECTURE.md), and here the reconciler is the
//! caller: a 429 (`rate_limited`) waits per the normalized `Retry-After` / `RateLimit-Reset`
//! and resumes; `circuit_open` pauses per its `Retry-After`; other retryable failures back off
//! (exponential, jittered, bounded); anything else fails the run with its cause, leaving the
//! cursor at the last committed page.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use backon::{BackoffBuilder, ExponentialBuilder};
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde_json::Value;
use tidegate_core::{ErrorCode, RequestContext};
use tidegate_events::{
    RecordSource,
    inbound::AccountDirectory,
    publish::{EventPublisher, RecordChange},
    queue::Published,
};
use tidegate_stack::{ConnectorService, Stacks};
use tidegate_upstream::expr::{Bindings, JsonataEngine};
use tidegate_vault::lock::{RefreshLock, new_owner_token};
use tower::ServiceExt;

use crate::{
    spec::{PageRef, Spec},
    store::{InProgress, StateError, StateStore},
};

/// How the engine waits (rate limits, open circuits, backoff). Default: `tokio::time::sleep`;
/// tests inject one that records the requested delays instead of sleeping.
#[derive(Clone)]
pub struct Sleeper(
    Arc<dyn Fn(Duration) -> futures_util::future::BoxFuture<'static, ()> + Send + Sync>,
);

impl Sleeper {
    /// Waits with `f`.
    pub fn new(
        f: impl Fn(Duration) -> futures_util::future::BoxFuture<'static, ()> + Send + Sync + 'static,
    ) -> Self {
        Self(Arc::new(f))
    }

    async fn sleep(&self, d: Duration) {
        (self.0)(d).await
    }
}

impl Default for Sleeper {
    fn default() -> Self {
        Self::new(|d| Box::pin(tokio::time::sleep(d)))
    }
}

impl std::fmt::Debug for Sleeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sleeper")
    }
}

/// Knobs of a run (defaults suit production; tests shorten them).
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// How waits are performed.
    pub sleeper: Sleeper,
    /// Retries of one page after a retryable failure (not counting rate-limit waits).
    pub max_retries: usize,
    /// First backoff delay after a retryable failure.
    pub backoff_min: Duration,
    /// Largest backoff delay.
    pub backoff_max: Duration,
    /// Rate-limit / circuit-open waits allowed in one run before it fails.
    pub max_waits: u32,
    /// Longest single wait (a provider asking for more is waited this long, then retried).
    pub max_wait: Duration,
    /// Wait when a 429 carries no reset hint.
    pub default_wait: Duration,
    /// Largest page body read.
    pub max_page_bytes: usize,
    /// Lease of the per-account run lock (renewed between pages at half-life).
    pub lock_ttl: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            sleeper: Sleeper::default(),
            max_retries: 5,
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            max_waits: 1_000,
            max_wait: Duration::from_secs(15 * 60),
            default_wait: Duration::from_secs(1),
            max_page_bytes: 64 << 20,
            lock_ttl: Duration::from_secs(10 * 60),
        }
    }
}

/// Why a run did not complete. The cursor is where the last committed page left it.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No such connector.
    #[error("unknown connector {0:?}")]
    UnknownConnector(String),
    /// The connector declares no `[reconcile]`.
    #[error("connector {0:?} declares no [reconcile] section")]
    NotDeclared(String),
    /// The account does not exist for this connector.
    #[error("unknown account {0:?} for this connector")]
    UnknownAccount(String),
    /// Another runner holds this account's run lock.
    #[error("another runner is reconciling this account")]
    Busy,
    /// The run lock was lost (taken over after its lease ran out); stopped after the last page.
    #[error("run lock lost to another runner; stopped after the last committed page")]
    LockLost,
    /// The upstream answered with an error that retrying will not fix, or retries ran out.
    #[error("upstream {code}{}: {detail}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Upstream {
        /// CONTRACT §4 code.
        code: String,
        /// HTTP status, when there was a response.
        status: Option<u16>,
        /// Detail (from the problem body; never a credential).
        detail: String,
    },
    /// A page could not be interpreted.
    #[error("bad page: {0}")]
    BadPage(String),
    /// The cursor store failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// Queuing events failed.
    #[error("events: {0}")]
    Publish(#[from] tidegate_events::publish::PublishError),
    /// The ledger lookup failed.
    #[error("ledger: {0}")]
    Ledger(#[from] tidegate_events::store::StoreError),
    /// The account directory or lock backend failed.
    #[error("{0}")]
    Backend(String),
}

/// Progress callbacks (the CLI draws a bar from them).
pub trait Progress: Send + Sync {
    /// After each committed page.
    fn page(&self, _p: &PageProgress) {}
    /// Before sleeping for a rate limit, an open circuit or a backoff.
    fn waiting(&self, _why: &str, _for: Duration) {}
}

/// No progress output.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;
impl Progress for NoProgress {}

/// Totals after a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageProgress {
    /// Pages committed in this run.
    pub pages: u64,
    /// Records scanned.
    pub scanned: u64,
    /// Versions missing from the ledger.
    pub missed: u64,
    /// Events queued for them.
    pub delivered: u64,
}

/// The result of a completed run.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RunReport {
    /// Connector.
    pub connector: String,
    /// Account.
    pub account_id: String,
    /// Object.
    pub object: String,
    /// Records scanned (a resumed run counts the pages before the crash too).
    pub scanned: u64,
    /// Versions the ledger did not have.
    pub missed: u64,
    /// `record.changed` events queued for them.
    pub delivered: u64,
    /// Pages fetched and committed.
    pub pages: u64,
    /// Records without an id or version (skipped, counted).
    pub invalid: u64,
    /// Rate-limit / circuit-open waits.
    pub waits: u32,
    /// Whether this run resumed an interrupted one.
    pub resumed: bool,
    /// The run's start (the next high-water mark), Unix ms.
    pub started_at: i64,
    /// Its end, Unix ms.
    pub ended_at: i64,
}

impl RunReport {
    /// `reconciled CONNECTOR ACCOUNT: scanned N, missed M, delivered M` (CONTRACT §8).
    pub fn summary(&self) -> String {
        format!(
            "reconciled {} {}: scanned {}, missed {}, delivered {}",
            self.connector, self.account_id, self.scanned, self.missed, self.delivered
        )
    }
}

/// Unix ms now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Clone)]
struct Target {
    service: ConnectorService,
    spec: Arc<Spec>,
}

/// Runs reconciliations. Cheap to clone.
#[derive(Clone)]
pub struct Reconciler {
    targets: Arc<HashMap<String, Target>>,
    /// Connectors that exist but declare no `[reconcile]`.
    undeclared: Arc<HashSet<String>>,
    publisher: EventPublisher,
    state: StateStore,
    accounts: Arc<dyn AccountDirectory>,
    lock: Option<Arc<dyn RefreshLock>>,
    options: RunOptions,
    running: Arc<Mutex<HashSet<(String, String)>>>,
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler")
            .field("connectors", &self.targets.keys())
            .finish_non_exhaustive()
    }
}

enum Failure {
    /// Wait this long, then try the same page again (429, circuit open).
    Wait(&'static str, Option<Duration>),
    /// Back off, then retry (bounded).
    Retry(RunError),
    /// Give up.
    Fatal(RunError),
}

impl Reconciler {
    /// A reconciler for every connector of `stacks` that declares `[reconcile]`.
    pub fn new(
        stacks: &Stacks,
        publisher: EventPublisher,
        state: StateStore,
        accounts: Arc<dyn AccountDirectory>,
    ) -> Result<Self, String> {
        let engine = Arc::new(JsonataEngine::default());
        let mut targets = HashMap::new();
        let mut undeclared = HashSet::new();
        for c in stacks.connectors() {
            if c.config().reconcile.is_none() {
                undeclared.insert(c.name().to_string());
            }
            if let Some(spec) = Spec::compile(&engine, c.config())
                .map_err(|e| format!("connectors.{}.{e}", c.name()))?
            {
                targets.insert(
                    c.name().to_string(),
                    Target {
                        service: c.service().clone(),
                        spec: Arc::new(spec),
                    },
                );
            }
        }
        Ok(Self {
            targets: Arc::new(targets),
            undeclared: Arc::new(undeclared),
            publisher,
            state,
            accounts,
            lock: None,
            options: RunOptions::default(),
            running: Arc::default(),
        })
    }

    /// A reconciler over explicit services (tests, embedding): `(connector, service, spec)`.
    pub fn from_services(
        targets: impl IntoIterator<Item = (String, ConnectorService, Spec)>,
        publisher: EventPublisher,
        state: StateStore,
        accounts: Arc<dyn AccountDirectory>,
    ) -> Self {
        Self {
            targets: Arc::new(
                targets
                    .into_iter()
                    .map(|(name, service, spec)| {
                        (
                            name,
                            Target {
                                service,
                                spec: Arc::new(spec),
                            },
                        )
                    })
                    .collect(),
            ),
            undeclared: Arc::default(),
            publisher,
            state,
            accounts,
            lock: None,
            options: RunOptions::default(),
            running: Arc::default(),
        }
    }

    /// Serializes runs of one account across processes with this lock backend (the vault's:
    /// local or Redis).
    pub fn with_lock(mut self, lock: Arc<dyn RefreshLock>) -> Self {
        self.lock = Some(lock);
        self
    }

    /// Replaces the run options.
    pub fn with_options(mut self, options: RunOptions) -> Self {
        self.options = options;
        self
    }

    /// The cursor store.
    pub fn state(&self) -> &StateStore {
        &self.state
    }

    /// The compiled declaration of `connector`.
    pub fn spec(&self, connector: &str) -> Option<&Arc<Spec>> {
        self.targets.get(connector).map(|t| &t.spec)
    }

    /// Connectors that declare reconciliation.
    pub fn connectors(&self) -> impl Iterator<Item = &str> {
        self.targets.keys().map(String::as_str)
    }

    /// Deletes ledger rows older than `retention` (default: [`crate::LEDGER_RETENTION`]).
    /// Returns how many. The scheduler calls it hourly.
    pub async fn sweep_ledger(&self, retention: Duration) -> Result<u64, RunError> {
        Ok(self
            .publisher
            .queue()
            .store()
            .sweep_ledger(now_ms(), retention)
            .await?)
    }

    /// Whether a run of (connector, account) is in progress in this process.
    pub fn is_running(&self, connector: &str, account: &str) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&(connector.to_owned(), account.to_owned()))
    }

    /// Runs one reconciliation of `account` of `connector` now (resuming an interrupted run).
    pub fn run<'a>(
        &'a self,
        connector: &'a str,
        account: &'a str,
        progress: &'a dyn Progress,
    ) -> futures_util::future::BoxFuture<'a, Result<RunReport, RunError>> {
        Box::pin(self.run_impl(connector, account, progress))
    }

    async fn run_impl(
        &self,
        connector: &str,
        account: &str,
        progress: &dyn Progress,
    ) -> Result<RunReport, RunError> {
        let target = self.targets.get(connector).cloned().ok_or_else(|| {
            if self.undeclared.contains(connector) {
                RunError::NotDeclared(connector.to_owned())
            } else {
                RunError::UnknownConnector(connector.to_owned())
            }
        })?;
        let environment = self
            .accounts
            .environment_of(connector, account)
            .await
            .map_err(|e| RunError::Backend(format!("account lookup: {e}")))?
            .ok_or_else(|| RunError::UnknownAccount(account.to_owned()))?;
        let lock_key = format!("tidegate:reconcile:{connector}:{account}");
        let owner = new_owner_token();
        if let Some(lock) = &self.lock
            && !lock
                .try_acquire(&lock_key, &owner, self.options.lock_ttl)
                .await
                .map_err(|e| RunError::Backend(e.to_string()))?
        {
            return Err(RunError::Busy);
        }
        let key = (connector.to_owned(), account.to_owned());
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone());
        let ctx = RunCtx {
            connector,
            account,
            environment: &environment,
            target: &target,
            lock_key: &lock_key,
            owner: &owner,
        };
        let result = self.run_locked(&ctx, progress).await;
        if let Err(e) = &result {
            let outcome = match e {
                RunError::LockLost => "interrupted",
                _ => "failed",
            };
            tracing::warn!(target: "tidegate::reconcile", connector, account, error = %e,
                "reconciliation run failed; cursor kept at the last committed page");
            let _ = self
                .state
                .fail(
                    connector,
                    account,
                    &target.spec.object,
                    outcome,
                    &e.to_string(),
                    now_ms(),
                )
                .await;
        }
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
        if let Some(lock) = &self.lock {
            let _ = lock.release(&lock_key, &owner).await;
        }
        result
    }

    async fn run_locked(
        &self,
        ctx: &RunCtx<'_>,
        progress: &dyn Progress,
    ) -> Result<RunReport, RunError> {
        let spec = &ctx.target.spec;
        let (connector, account, object) = (ctx.connector, ctx.account, spec.object.as_str());
        let now = now_ms();
        let stored = self.state.load(connector, account, object).await?;
        let (mut run, mut page, resumed) = match stored.run {
            Some(r) => {
                self.state.resumed(connector, account, object, now).await?;
                let page = PageRef::decode(r.next_page.as_deref());
                tracing::info!(target: "tidegate::reconcile", connector, account, pages = r.pages,
                    "resuming an interrupted reconciliation run");
                (r, page, true)
            }
            None => {
                let since = match stored.hwm {
                    Some(hwm) => hwm - spec.overlap.as_millis() as i64,
                    None => now - spec.initial_lookback.as_millis() as i64,
                };
                self.state
                    .begin_run(connector, account, object, now, since)
                    .await?;
                let run = InProgress {
                    started_at: now,
                    since,
                    next_page: None,
                    pages: 0,
                    scanned: 0,
                    missed: 0,
                };
                (run, PageRef::First, false)
            }
        };
        let mut report = RunReport {
            connector: connector.to_owned(),
            account_id: account.to_owned(),
            object: object.to_owned(),
            scanned: run.scanned,
            missed: run.missed,
            delivered: run.missed,
            pages: run.pages,
            invalid: 0,
            waits: 0,
            resumed,
            started_at: run.started_at,
            ended_at: 0,
        };
        let mut lock_renewed_at = tokio::time::Instant::now();
        let mut restarted = false;
        loop {
            let target = spec.page_target(run.since, &page);
            let request_body = spec.page_body(run.since, &page);
            let (status, headers, body) = match send(self.fetch(
                ctx,
                &target,
                request_body.as_deref(),
                progress,
                &mut report,
            ))
            .await
            {
                Ok(x) => x,
                // A resumed run's stored page token may have expired: start the same run over
                // from its first page (same {since}); the ledger drops what was announced.
                Err(RunError::Upstream {
                    status: Some(s), ..
                }) if resumed
                    && !restarted
                    && page != PageRef::First
                    && (400..500).contains(&s)
                    && s != 429 =>
                {
                    tracing::warn!(target: "tidegate::reconcile", connector, account, status = s,
                        "stored page token rejected; restarting the run from its first page");
                    restarted = true;
                    page = PageRef::First;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut doc: Value = serde_json::from_slice(&body)
                .map_err(|e| RunError::BadPage(format!("page body is not JSON: {e}")))?;
            drop(body);
            let bindings = Bindings {
                status: status.as_u16(),
                headers: header_map(&headers),
            };
            let next = match &spec.next_page {
                Some(e) => e.eval_string(&doc, &bindings),
                None => None,
            };
            let records = spec
                .records
                .take_records(&mut doc, &bindings)
                .map_err(RunError::BadPage)?;
            drop(doc);
            let fut = self.announce_missed(ctx, &records, &bindings);
            let (missed, delivered, invalid) = send(fut).await?;
            run.pages += 1;
            run.scanned += records.len() as u64;
            run.missed += missed;
            report.pages = run.pages;
            report.scanned = run.scanned;
            report.missed = run.missed;
            report.delivered += delivered;
            report.invalid += invalid;
            let next_ref = spec.next_ref(next).map_err(RunError::BadPage)?;
            if next_ref.as_ref() == Some(&page) && page != PageRef::First {
                return Err(RunError::BadPage(
                    "the next page is the page just read (pagination loop); stopping".into(),
                ));
            }
            // Commit: the page's events are queued (or were already), so move the cursor.
            let stored_next = next_ref.as_ref().and_then(PageRef::encode);
            run.next_page = stored_next.clone();
            self.state
                .page_done(connector, account, object, stored_next.as_deref(), &run)
                .await?;
            progress.page(&PageProgress {
                pages: report.pages,
                scanned: report.scanned,
                missed: report.missed,
                delivered: report.delivered,
            });
            match next_ref {
                None => break,
                Some(p) => page = p,
            }
            if let Some(lock) = &self.lock
                && lock_renewed_at.elapsed() > self.options.lock_ttl / 2
            {
                // No extend in the lock API: release and take again with the same owner. If
                // another runner got in between, stop here (our cursor is committed).
                let _ = lock.release(ctx.lock_key, ctx.owner).await;
                let again = lock
                    .try_acquire(ctx.lock_key, ctx.owner, self.options.lock_ttl)
                    .await
                    .map_err(|e| RunError::Backend(e.to_string()))?;
                if !again {
                    return Err(RunError::LockLost);
                }
                lock_renewed_at = tokio::time::Instant::now();
            }
        }
        report.ended_at = now_ms();
        self.state
            .complete(connector, account, object, &run, report.ended_at)
            .await?;
        tracing::info!(target: "tidegate::reconcile", connector, account, scanned = report.scanned,
            missed = report.missed, delivered = report.delivered, pages = report.pages,
            "reconciliation run completed");
        Ok(report)
    }

    /// Compares a page's (id, version) pairs with the ledger and queues `record.changed` for
    /// the missing ones in one transaction. Returns (missed, delivered, invalid).
    async fn announce_missed(
        &self,
        ctx: &RunCtx<'_>,
        records: &[Value],
        bindings: &Bindings,
    ) -> Result<(u64, u64, u64), RunError> {
        let spec = &ctx.target.spec;
        let mut keyed: Vec<(usize, String, String)> = Vec::with_capacity(records.len());
        let mut invalid = 0;
        for (i, r) in records.iter().enumerate() {
            match (
                spec.id.eval_string(r, bindings),
                spec.version.eval_string(r, bindings),
            ) {
                (Some(id), Some(version)) => keyed.push((i, id, version)),
                _ => invalid += 1,
            }
        }
        if invalid > 0 {
            tracing::warn!(target: "tidegate::reconcile", connector = ctx.connector, invalid,
                "records without an id or version were skipped");
        }
        if keyed.is_empty() {
            return Ok((0, 0, invalid));
        }
        let ids: Vec<&str> = keyed.iter().map(|(_, id, _)| id.as_str()).collect();
        let seen = self
            .publisher
            .queue()
            .store()
            .delivered_versions(ctx.connector, ctx.account, &spec.object, &ids)
            .await?;
        let missing: Vec<&(usize, String, String)> = keyed
            .iter()
            .filter(|(_, id, v)| !seen.contains(&(id.clone(), v.clone())))
            .collect();
        if missing.is_empty() {
            return Ok((0, 0, invalid));
        }
        let bodies: Vec<Vec<u8>> = missing
            .iter()
            .map(|(i, _, _)| serde_json::to_vec(&records[*i]).expect("a JSON value serializes"))
            .collect();
        let changes: Vec<RecordChange<'_>> = missing
            .iter()
            .zip(&bodies)
            .map(|((_, id, version), body)| RecordChange {
                environment: ctx.environment,
                connector: ctx.connector,
                account_id: Some(ctx.account),
                object: Some(&spec.object),
                id: Some(id),
                version: Some(version),
                source: RecordSource::Reconciliation,
                body,
            })
            .collect();
        let results = self.publisher.record_changes(&changes).await?;
        let delivered = results
            .iter()
            .filter(|r| matches!(r, Published::Queued { .. }))
            .count() as u64;
        Ok((missing.len() as u64, delivered, invalid))
    }

    /// Fetches one page through the connector's stack, waiting out rate limits and open
    /// circuits and backing off on retryable failures.
    async fn fetch(
        &self,
        ctx: &RunCtx<'_>,
        target: &str,
        body: Option<&[u8]>,
        progress: &dyn Progress,
        report: &mut RunReport,
    ) -> Result<(StatusCode, HeaderMap, Bytes), RunError> {
        let o = &self.options;
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(o.backoff_min)
            .with_max_delay(o.backoff_max)
            .with_jitter()
            .with_max_times(o.max_retries)
            .build();
        loop {
            let failure = match self.attempt(ctx, target, body).await {
                Ok(ok) => return Ok(ok),
                Err(f) => f,
            };
            match failure {
                Failure::Wait(why, hint) => {
                    report.waits += 1;
                    if report.waits > o.max_waits {
                        return Err(RunError::Upstream {
                            code: "rate_limited".into(),
                            status: None,
                            detail: format!("gave up after {} rate-limit waits", o.max_waits),
                        });
                    }
                    let wait = hint.unwrap_or(o.default_wait).min(o.max_wait);
                    tracing::info!(target: "tidegate::reconcile", connector = ctx.connector,
                        account = ctx.account, why, wait_ms = wait.as_millis() as u64, "waiting");
                    progress.waiting(why, wait);
                    o.sleeper.sleep(wait).await;
                }
                Failure::Retry(e) => match backoff.next() {
                    Some(d) => {
                        tracing::info!(target: "tidegate::reconcile", connector = ctx.connector,
                            error = %e, backoff_ms = d.as_millis() as u64, "retrying page");
                        progress.waiting("retry", d);
                        o.sleeper.sleep(d).await;
                    }
                    None => return Err(e),
                },
                Failure::Fatal(e) => return Err(e),
            }
        }
    }

    async fn attempt(
        &self,
        ctx: &RunCtx<'_>,
        target: &str,
        body: Option<&[u8]>,
    ) -> Result<(StatusCode, HeaderMap, Bytes), Failure> {
        let spec = &ctx.target.spec;
        let mut builder = Request::builder()
            .method(spec.method.clone())
            .uri(target)
            .header(http::header::ACCEPT, "application/json");
        let body = match body {
            Some(b) => {
                builder = builder.header(http::header::CONTENT_TYPE, "application/json");
                tidegate_core::body::full(b.to_vec())
            }
            None => tidegate_core::body::empty(),
        };
        let mut req = builder
            .body(body)
            .map_err(|e| Failure::Fatal(RunError::BadPage(format!("page request: {e}"))))?;
        req.extensions_mut().insert(
            RequestContext::new(ctx.connector)
                .with_account(ctx.account)
                .with_environment(ctx.environment),
        );
        // Boxed with an explicit `Send` bound: keeps the stack's future type out of this
        // future's witness (rustc otherwise fails to prove `Send` for all lifetimes).
        let call: futures_util::future::BoxFuture<'static, _> =
            Box::pin(ctx.target.service.clone().oneshot(req));
        let resp = match call.await {
            Ok(r) => r,
            Err(e) => {
                let err = RunError::Upstream {
                    code: e.code().as_str().to_owned(),
                    status: None,
                    detail: e.detail().to_owned(),
                };
                return Err(match e.code() {
                    ErrorCode::RateLimited => Failure::Wait("rate_limited", e.retry_after()),
                    ErrorCode::CircuitOpen => Failure::Wait("circuit_open", e.retry_after()),
                    c if c.retryable() => Failure::Retry(err),
                    _ => Failure::Fatal(err),
                });
            }
        };
        let status = resp.status();
        let (parts, body) = resp.into_parts();
        if status.is_success() {
            let collect: futures_util::future::BoxFuture<'static, _> =
                Box::pin(Limited::new(body, self.options.max_page_bytes).collect());
            let bytes = collect
                .await
                .map_err(|e| {
                    Failure::Retry(RunError::Upstream {
                        code: "upstream_unavailable".into(),
                        status: Some(status.as_u16()),
                        detail: format!("reading the page body failed: {e}"),
                    })
                })?
                .to_bytes();
            return Ok((status, parts.headers, bytes));
        }
        // An error answer: the stack normalized it into a problem (CONTRACT §4).
        let collect: futures_util::future::BoxFuture<'static, _> =
            Box::pin(Limited::new(body, 64 << 10).collect());
        let body = collect.await.map(|b| b.to_bytes()).unwrap_or_default();
        let problem: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let code = problem["code"]
            .as_str()
            .and_then(ErrorCode::parse)
            .or_else(|| ErrorCode::from_upstream_status(status))
            .unwrap_or(ErrorCode::UpstreamServerError);
        let retryable = problem["retryable"].as_bool().unwrap_or(code.retryable());
        let err = RunError::Upstream {
            code: code.as_str().to_owned(),
            status: Some(status.as_u16()),
            detail: problem["detail"]
                .as_str()
                .unwrap_or("(no detail)")
                .chars()
                .take(300)
                .collect(),
        };
        let hint = wait_hint(&parts.headers);
        Err(
            if status == StatusCode::TOO_MANY_REQUESTS || code == ErrorCode::RateLimited {
                Failure::Wait("rate_limited", hint)
            } else if code == ErrorCode::CircuitOpen {
                Failure::Wait("circuit_open", hint)
            } else if retryable {
                Failure::Retry(err)
            } else {
                Failure::Fatal(err)
            },
        )
    }
}

fn send<F: std::future::Future + Send>(f: F) -> F {
    f
}

struct RunCtx<'a> {
    connector: &'a str,
    account: &'a str,
    environment: &'a str,
    target: &'a Target,
    lock_key: &'a str,
    owner: &'a str,
}

/// `Retry-After` (delta seconds; the stack always normalizes it so), else the normalized
/// `RateLimit-Reset` (delta seconds).
fn wait_hint(headers: &HeaderMap) -> Option<Duration> {
    let secs = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64)
    };
    secs("retry-after").or_else(|| secs("ratelimit-reset"))
}

fn header_map(headers: &HeaderMap) -> serde_json::Map<String, Value> {
    let mut map = serde_json::Map::new();
    for (name, value) in headers {
        if let Ok(v) = value.to_str() {
            match map.get_mut(name.as_str()) {
                Some(Value::String(s)) => {
                    s.push_str(", ");
                    s.push_str(v);
                }
                _ => {
                    map.insert(name.as_str().to_owned(), Value::String(v.to_owned()));
                }
            }
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_hints_prefer_retry_after() {
        let mut h = HeaderMap::new();
        assert_eq!(wait_hint(&h), None);
        h.insert("ratelimit-reset", "7".parse().unwrap());
        assert_eq!(wait_hint(&h), Some(Duration::from_secs(7)));
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(wait_hint(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(wait_hint(&h), Some(Duration::from_secs(7)));
    }

    #[test]
    fn summary_line_matches_the_contract() {
        let r = RunReport {
            connector: "crm".into(),
            account_id: "acc_1".into(),
            object: "contact".into(),
            scanned: 10,
            missed: 2,
            delivered: 2,
            pages: 1,
            invalid: 0,
            waits: 0,
            resumed: false,
            started_at: 0,
            ended_at: 0,
        };
        assert_eq!(
            r.summary(),
            "reconciled crm acc_1: scanned 10, missed 2, delivered 2"
        );
    }
}
