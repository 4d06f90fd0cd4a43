//! The inbound webhook pipeline (CONTRACT §8), independent of the HTTP framework:
//!
//! 1. the body size cap (`webhooks.max_body`) — over it: 413, nothing read further;
//! 2. the signature, on the raw bytes — bad, missing or stale: 401 `invalid_signature`, nothing
//!    forwarded, a counter and one log line (connector and reason, never the body);
//! 3. the account (from the path, or the connector's `webhooks.account` expression) must exist;
//!    it decides the environment;
//! 4. dedup on the provider event id (`webhooks.event_id`, else the scheme's id header) within
//!    `dedup_window` — a duplicate is acknowledged and dropped;
//! 5. a `record.changed` event is queued (claim check when large).

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures_util::future::BoxFuture;
use http::{HeaderMap, Method, Uri};
use serde_json::Value;
use tidegate_core::{ErrorCode, Problem};

use crate::{
    Clock, RecordSource,
    dedup::Dedup,
    extract::Extract,
    publish::{EventPublisher, PublishError, RecordChange},
    queue::Published,
    verify::{SignatureError, Verifier},
};

/// Looks up accounts (implemented over the vault by the gateway).
pub trait AccountDirectory: Send + Sync {
    /// The environment of account `account_id` of `connector`, or `None` when there is no such
    /// account (or it belongs to another connector).
    fn environment_of<'a>(
        &'a self,
        connector: &'a str,
        account_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, tidegate_core::BoxError>>;
}

/// One connector's inbound settings.
#[derive(Debug)]
pub struct ConnectorWebhooks {
    /// The signature verifier.
    pub verifier: Box<dyn Verifier>,
    /// Largest accepted body.
    pub max_body: usize,
    /// How long provider event ids are remembered.
    pub dedup_window: Duration,
    /// Account id from the payload (for `POST /webhooks/{connector}`).
    pub account: Option<Box<dyn Extract>>,
    /// `data.object`.
    pub object: Option<Box<dyn Extract>>,
    /// `data.id`.
    pub id: Option<Box<dyn Extract>>,
    /// `data.version`.
    pub version: Option<Box<dyn Extract>>,
    /// The provider's event id (dedup key).
    pub event_id: Option<Box<dyn Extract>>,
}

/// Default body cap when the connector sets none.
pub const DEFAULT_MAX_BODY: usize = 10 << 20;
/// Default dedup window when the connector sets none.
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// What happened to an accepted webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InboundOutcome {
    /// Queued as event `event_id`.
    Accepted {
        /// The `evt_...` id.
        event_id: String,
    },
    /// Verified, but the environment has no `webhook_url`.
    NoEndpoint,
    /// A provider event id seen within the window: acknowledged, dropped.
    Duplicate,
}

/// Why a webhook was refused.
#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    /// No such connector, or it has no `webhooks` section.
    #[error("connector {0:?} does not accept webhooks")]
    UnknownConnector(String),
    /// Body over the cap.
    #[error("webhook body of {size} bytes exceeds the {limit} byte limit")]
    TooLarge {
        /// Received (or announced) size.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// Signature failure.
    #[error("invalid webhook signature: {0}")]
    Signature(#[from] SignatureError),
    /// No account in the path and none found by the `account` expression.
    #[error("no account id in the path and none derivable from the payload")]
    NoAccount,
    /// The account does not exist (for this connector).
    #[error("unknown account")]
    UnknownAccount,
    /// The account directory failed.
    #[error("account lookup failed: {0}")]
    Directory(tidegate_core::BoxError),
    /// Storing the event failed.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// Dedup storage failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl InboundError {
    /// The CONTRACT §4 problem for this refusal.
    pub fn to_problem(&self) -> Problem {
        match self {
            InboundError::UnknownConnector(_) => {
                Problem::new(ErrorCode::UnknownConnector, self.to_string())
            }
            InboundError::TooLarge { .. } => {
                Problem::new(ErrorCode::PayloadTooLarge, self.to_string())
            }
            InboundError::Signature(e) => Problem::new(ErrorCode::InvalidSignature, e.to_string()),
            InboundError::NoAccount => Problem::new(ErrorCode::UnknownAccount, self.to_string()),
            InboundError::UnknownAccount => {
                Problem::new(ErrorCode::UnknownAccount, self.to_string())
            }
            InboundError::Directory(_) | InboundError::Publish(_) | InboundError::Store(_) => {
                Problem::new(
                    ErrorCode::InternalError,
                    "the webhook could not be stored; retry later",
                )
            }
        }
    }
}

/// Counters (exported by the gateway's `/metrics`).
#[derive(Debug, Default)]
pub struct InboundStats {
    /// Webhooks queued as events.
    pub accepted: AtomicU64,
    /// Duplicates dropped.
    pub duplicates: AtomicU64,
    /// Signature failures.
    pub invalid_signature: AtomicU64,
    /// Bodies over the cap.
    pub too_large: AtomicU64,
}

/// Inbound webhooks by `connector` and `result` (`accepted`, `duplicate`, `invalid_signature`,
/// `too_large`, `unknown_account`).
pub const WEBHOOKS_RECEIVED_TOTAL: &str = "tidegate_webhooks_received_total";

fn count(connector: &str, result: &'static str) {
    metrics::counter!(WEBHOOKS_RECEIVED_TOTAL, "connector" => connector.to_owned(), "result" => result)
        .increment(1);
}

/// The pipeline for every connector with webhooks.
pub struct Inbound {
    connectors: HashMap<String, ConnectorWebhooks>,
    dedup: Arc<dyn Dedup>,
    accounts: Arc<dyn AccountDirectory>,
    publisher: EventPublisher,
    clock: Arc<dyn Clock>,
    stats: Arc<InboundStats>,
}

impl std::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbound")
            .field("connectors", &self.connectors.keys())
            .finish_non_exhaustive()
    }
}

impl Inbound {
    /// Assembles the pipeline.
    pub fn new(
        connectors: HashMap<String, ConnectorWebhooks>,
        dedup: Arc<dyn Dedup>,
        accounts: Arc<dyn AccountDirectory>,
        publisher: EventPublisher,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            connectors,
            dedup,
            accounts,
            publisher,
            clock,
            stats: Arc::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> Arc<InboundStats> {
        self.stats.clone()
    }

    /// The body cap of `connector` (for reading the request with a limit), if it takes webhooks.
    pub fn max_body(&self, connector: &str) -> Option<usize> {
        self.connectors.get(connector).map(|c| c.max_body)
    }

    /// Runs the pipeline on one delivery. `uri` should be the absolute public URL the provider
    /// called (HubSpot signs it).
    pub async fn handle(
        &self,
        connector: &str,
        path_account: Option<&str>,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<InboundOutcome, InboundError> {
        let cfg = self
            .connectors
            .get(connector)
            .ok_or_else(|| InboundError::UnknownConnector(connector.to_owned()))?;
        if body.len() > cfg.max_body {
            self.stats.too_large.fetch_add(1, Ordering::Relaxed);
            count(connector, "too_large");
            return Err(InboundError::TooLarge {
                size: body.len(),
                limit: cfg.max_body,
            });
        }
        let verified = match cfg
            .verifier
            .verify(method, uri, headers, body, self.clock.now())
        {
            Ok(v) => v,
            Err(e) => {
                self.stats.invalid_signature.fetch_add(1, Ordering::Relaxed);
                count(connector, "invalid_signature");
                tracing::warn!(target: "tidegate::webhooks", connector, scheme = %cfg.verifier.scheme(),
                    reason = e.reason(), "webhook rejected: invalid signature");
                return Err(e.into());
            }
        };

        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let eval = |e: &Option<Box<dyn Extract>>| -> Option<String> {
            let v = parsed.as_ref().unwrap_or(&Value::Null);
            e.as_ref()?.extract(v, headers)
        };

        let account_id = match path_account {
            Some(a) => a.to_owned(),
            None => eval(&cfg.account).ok_or(InboundError::NoAccount)?,
        };
        let environment = self
            .accounts
            .environment_of(connector, &account_id)
            .await
            .map_err(InboundError::Directory)?;
        let Some(environment) = environment else {
            count(connector, "unknown_account");
            return Err(InboundError::UnknownAccount);
        };

        let provider_event_id = eval(&cfg.event_id).or(verified.event_id);
        if let Some(pid) = &provider_event_id
            && !self
                .dedup
                .first_seen(connector, pid, cfg.dedup_window)
                .await?
        {
            self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
            count(connector, "duplicate");
            tracing::info!(target: "tidegate::webhooks", connector,
                provider_event_id = %crate::logsafe::redacted_text(pid),
                "duplicate webhook acknowledged and dropped");
            return Ok(InboundOutcome::Duplicate);
        }

        let (object, id, version) = (eval(&cfg.object), eval(&cfg.id), eval(&cfg.version));
        let published = self
            .publisher
            .record_changed(RecordChange {
                environment: &environment,
                connector,
                account_id: Some(&account_id),
                object: object.as_deref(),
                id: id.as_deref(),
                version: version.as_deref(),
                source: RecordSource::Webhook,
                body,
            })
            .await;
        let published = match published {
            Ok(p) => p,
            Err(e) => {
                // Let the provider's retry through instead of dropping it as a duplicate.
                if let Some(pid) = &provider_event_id {
                    let _ = self.dedup.forget(connector, pid).await;
                }
                return Err(e.into());
            }
        };
        Ok(match published {
            Published::Queued { id } => {
                self.stats.accepted.fetch_add(1, Ordering::Relaxed);
                count(connector, "accepted");
                tracing::info!(target: "tidegate::webhooks", connector, event_id = %id,
                    provider_event_id = %crate::logsafe::redacted_text(provider_event_id.as_deref().unwrap_or("")),
                    "webhook accepted");
                InboundOutcome::Accepted { event_id: id }
            }
            Published::NoEndpoint => InboundOutcome::NoEndpoint,
            // Reconciliation (or an earlier webhook) already announced this version.
            Published::AlreadyDelivered => InboundOutcome::Duplicate,
        })
    }
}
