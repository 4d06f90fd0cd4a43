//! Assembling events from the configuration: the store (the `storage.url` database, shared
//! with the vault), endpoints from `[environments.*]`, the delivery policy from `[events]`,
//! the claim check from `[claim_check]` and `server.public_url`, and one inbound verifier per
//! connector with `webhooks.verify` (or a preset whose name is a scheme).
//!
//! ```no_run
//! # async fn run(config: tidegate_config::Config, kek: std::sync::Arc<tidegate_crypto::MasterKey>,
//! #              accounts: std::sync::Arc<dyn tidegate_events::inbound::AccountDirectory>) {
//! let events = tidegate_events::wiring::EventsRuntime::from_config(&config, kek, accounts).await.unwrap();
//! let app: axum::Router = axum::Router::new().merge(events.router());
//! tokio::spawn(events.worker().run(std::time::Duration::from_secs(1),
//!                                  std::time::Duration::from_secs(30), std::future::pending()));
//! # let _ = app; }
//! ```

use std::{collections::HashMap, sync::Arc, time::Duration};

use secrecy::ExposeSecret;
use tidegate_config::Config;
use tidegate_crypto::MasterKey;
use tidegate_upstream::expr::JsonataEngine;

use crate::{
    Clock, Envelope, Signer, SystemClock,
    claim::{ClaimCheck, ClaimCheckSettings, ClaimError},
    dedup::StoreDedup,
    delivery::DeliveryWorker,
    extract::{Extract, JsonataExtract},
    inbound::{
        AccountDirectory, ConnectorWebhooks, DEFAULT_DEDUP_WINDOW, DEFAULT_MAX_BODY, Inbound,
    },
    policy::DeliveryPolicy,
    publish::EventPublisher,
    queue::{Endpoint, Endpoints, EventQueue},
    routes::WebhookHandles,
    store::{EventStore, StoreError},
    vault::DurableEventSink,
    verify::{Scheme, WebhookSecret, verifier_for},
};

/// A configuration problem found while wiring events. Never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The claim check could not be opened.
    #[error(transparent)]
    Claim(#[from] ClaimError),
    /// A config value is unusable (path names the key).
    #[error("{path}: {message}")]
    Invalid {
        /// Config path, e.g. `connectors.crm.webhooks.verify`.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Everything events needs at runtime.
#[derive(Clone, Debug)]
pub struct EventsRuntime {
    /// The database.
    pub store: EventStore,
    /// The queue producers use.
    pub queue: EventQueue,
    /// `record.changed` / `account.*` publishing (with the claim check).
    pub publisher: EventPublisher,
    /// The claim check.
    pub claims: ClaimCheck,
    /// What the HTTP routes need.
    pub handles: WebhookHandles,
}

fn invalid(path: impl Into<String>, message: impl Into<String>) -> WiringError {
    WiringError::Invalid {
        path: path.into(),
        message: message.into(),
    }
}

/// The policy of `[events]`.
pub fn policy_from_config(config: &Config) -> DeliveryPolicy {
    DeliveryPolicy::new(
        config.events.retry_schedule.clone(),
        config.events.delivery_timeout,
        config.events.dead_letter_ttl,
    )
}

/// Endpoints of `[environments.*]` that have a `webhook_url`.
pub fn endpoints_from_config(config: &Config) -> Result<Endpoints, WiringError> {
    let mut out = HashMap::new();
    for (name, env) in &config.environments {
        let Some(url) = &env.webhook_url else {
            continue;
        };
        let secrets: Vec<&str> = env.signing_secrets().map(|s| s.expose_secret()).collect();
        if secrets.is_empty() {
            return Err(invalid(
                format!("environments.{name}.webhook_secret"),
                "a webhook_url needs a webhook_secret (whsec_...)",
            ));
        }
        let signer = Signer::new(secrets.iter().copied())
            .map_err(|e| invalid(format!("environments.{name}.webhook_secret"), e.to_string()))?;
        out.insert(
            name.clone(),
            Endpoint {
                url: url.clone(),
                signer,
            },
        );
    }
    Ok(out)
}

/// Inbound settings of every connector that accepts webhooks.
pub fn inbound_from_config(
    config: &Config,
) -> Result<HashMap<String, ConnectorWebhooks>, WiringError> {
    let engine = Arc::new(JsonataEngine::default());
    let mut out = HashMap::new();
    for (name, c) in &config.connectors {
        let Some(w) = &c.webhooks else { continue };
        let scheme_name = w.verify.as_deref().or(c.preset.as_deref());
        let Some(scheme_name) = scheme_name else {
            continue;
        };
        let scheme: Scheme = match scheme_name.parse() {
            Ok(s) => s,
            Err(e) if w.verify.is_some() => {
                return Err(invalid(
                    format!("connectors.{name}.webhooks.verify"),
                    e.to_string(),
                ));
            }
            Err(_) => continue,
        };
        let secrets: Vec<WebhookSecret> = w
            .all_secrets()
            .map(|s| WebhookSecret::new(s.expose_secret()))
            .collect();
        if secrets.is_empty() {
            return Err(invalid(
                format!("connectors.{name}.webhooks.secret"),
                format!("webhooks.verify = {scheme} needs a secret"),
            ));
        }
        let expr =
            |key: &str, e: &Option<String>| -> Result<Option<Box<dyn Extract>>, WiringError> {
                match e {
                    None => Ok(None),
                    Some(src) => JsonataExtract::compile(engine.clone(), src)
                        .map(|x| Some(Box::new(x) as Box<dyn Extract>))
                        .map_err(|m| invalid(format!("connectors.{name}.webhooks.{key}"), m)),
                }
            };
        out.insert(
            name.clone(),
            ConnectorWebhooks {
                verifier: verifier_for(
                    scheme,
                    secrets,
                    w.tolerance.unwrap_or(Duration::from_secs(300)),
                ),
                max_body: w
                    .max_body
                    .map(|b| b.as_u64() as usize)
                    .unwrap_or(DEFAULT_MAX_BODY),
                dedup_window: w.dedup_window.unwrap_or(DEFAULT_DEDUP_WINDOW),
                account: expr("account", &w.account)?,
                object: expr("object", &w.object)?,
                id: expr("id", &w.id)?,
                version: expr("version", &w.version)?,
                event_id: expr("event_id", &w.event_id)?,
            },
        );
    }
    Ok(out)
}

impl EventsRuntime {
    /// Opens the store (migrating it), the claim check, and builds the pipeline.
    pub async fn from_config(
        config: &Config,
        kek: Arc<MasterKey>,
        accounts: Arc<dyn AccountDirectory>,
    ) -> Result<Self, WiringError> {
        let store = EventStore::connect(&config.storage.url).await?;
        Self::with_store(config, store, kek, accounts, Arc::new(SystemClock))
    }

    /// As [`EventsRuntime::from_config`] over an already open store and a given clock.
    pub fn with_store(
        config: &Config,
        store: EventStore,
        kek: Arc<MasterKey>,
        accounts: Arc<dyn AccountDirectory>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, WiringError> {
        let envelope = Envelope::new(kek);
        let queue = EventQueue::new(
            store.clone(),
            envelope.clone(),
            policy_from_config(config),
            endpoints_from_config(config)?,
            clock.clone(),
        );
        let public_base = config.server.public_base_url();
        let claims = ClaimCheck::open(
            &ClaimCheckSettings {
                url: config.claim_check.url.clone(),
                ttl: config.claim_check.ttl,
                public_base: public_base.clone(),
                s3_options: Vec::new(),
            },
            store.clone(),
            envelope,
            clock.clone(),
        )?;
        let publisher = EventPublisher::new(
            queue.clone(),
            Some(claims.clone()),
            config.claim_check.inline_limit.as_u64() as usize,
        );
        let inbound = Inbound::new(
            inbound_from_config(config)?,
            Arc::new(StoreDedup::new(store.clone(), clock.clone())),
            accounts,
            publisher.clone(),
            clock,
        );
        let handles = WebhookHandles {
            inbound: Arc::new(inbound),
            claims: Some(claims.clone()),
            public_base: public_base.into(),
        };
        Ok(Self {
            store,
            queue,
            publisher,
            claims,
            handles,
        })
    }

    /// A delivery worker (run one or more; each sweeps too).
    pub fn worker(&self) -> DeliveryWorker {
        DeliveryWorker::new(self.queue.clone()).with_claim_check(self.claims.clone())
    }

    /// `POST /webhooks/...` and `GET /claims/...`.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> axum::Router<S> {
        crate::routes::router(self.handles.clone())
    }

    /// The vault's durable event sink.
    pub fn vault_sink(&self) -> DurableEventSink {
        DurableEventSink::new(self.queue.clone())
    }
}
