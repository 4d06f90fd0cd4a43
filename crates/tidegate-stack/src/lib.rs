//! One tower service stack per connector, built from the configuration.
//!
//! The same stacks serve both kinds of users: a Rust service calls its third-party APIs
//! through them in-process, and the `tidegate serve` gateway runs the very same stacks for
//! everyone else.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use tower::ServiceExt;
//! use tidegate_stack::Stacks;
//!
//! let stacks = Stacks::from_config("tidegate.toml")?;
//! let hubspot = stacks.client("hubspot")?;
//! let request = http::Request::get("/crm/v3/objects/contacts")
//!     .body(tidegate_core::body::empty())?;
//! let response = hubspot.oneshot(request).await?; // → {base_url}/crm/v3/objects/contacts
//! println!("{}", response.status());
//! # Ok(()) }
//! ```
//!
//! The layers of a stack are assembled in ONE place, [`build_connector_stack`], a
//! `ServiceBuilder` chain with one commented slot per layer (outermost first); adding a layer
//! is one line there. Whatever a layer needs beyond the connector's config (the vault, a lock
//! service, ...) goes into [`Shared`].
#![forbid(unsafe_code)]

pub mod base_url;
pub mod boundary_log;
pub mod client;
pub mod context;
pub mod resilience;
pub mod upstream;

use std::{collections::HashMap, path::Path, sync::Arc};

use http::{Request, Response};
use tidegate_config::{Config, ConfigErrors, ConnectorConfig};
use tidegate_core::{Body, Error, ErrorCode};
use tidegate_layers::{
    breaker::CircuitBreakerLayer,
    bulkhead::BulkheadLayer,
    idempotency::IdempotencyLayer,
    retry::RetryLayer,
    timeout::{AttemptTimeoutLayer, TimeoutLayer},
};
use tidegate_upstream::{ErrorNormalizationLayer, LocalPacingLayer, RateLimitHeadersLayer};
use tower::{ServiceBuilder, util::BoxCloneSyncService};

pub use base_url::{BaseUrlError, UpstreamBase};
pub use client::{ClientOptions, HttpClient, UpstreamService};
pub use context::EnsureContextLayer;

/// A connector's complete stack: cloneable, `Send + Sync`, streaming bodies both ways.
///
/// Upstream HTTP error statuses are `Ok(response)`; `Err` carries a classified failure
/// (timeout, circuit open, unavailable, ...) that becomes a problem response.
pub type ConnectorService = BoxCloneSyncService<Request<Body>, Response<Body>, Error>;

/// What stacks share across connectors: the one pooled HTTP client, and (added by later
/// layers) handles such as the credential vault.
#[derive(Clone, Debug, Default)]
pub struct Shared {
    /// The process-wide upstream client (one connection pool).
    pub client: HttpClient,
    /// Every connector's circuit breakers (read by `GET /admin/breakers` and `/metrics`).
    pub breakers: tidegate_layers::breaker::BreakerRegistry,
    /// The credential vault; `None`: no credentials are injected (only `auth = none` works).
    pub vault: Option<tidegate_vault::Vault>,
    /// The boundary log's sink, redactor and sample rate (`boundary_log::start`); `None`: no
    /// boundary log (in-process users that do not want one).
    pub boundary_log: Option<tidegate_observe::BoundaryLogging>,
}

/// Why stacks could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// The configuration is invalid (one `PATH:LINE:COL: message` per line).
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// A connector's `base_url` is unusable.
    #[error("connector {connector:?}: {source}")]
    BaseUrl {
        /// The connector.
        connector: String,
        /// What is wrong.
        #[source]
        source: BaseUrlError,
    },
    /// A layer could not be built from the connector's settings.
    #[error("connector {connector:?}: {message}")]
    Layer {
        /// The connector.
        connector: String,
        /// What is wrong.
        message: String,
    },
}

/// One built connector: its name, config and stack.
#[derive(Clone)]
pub struct Connector {
    name: Arc<str>,
    config: Arc<ConnectorConfig>,
    service: ConnectorService,
}

impl Connector {
    /// The connector's name (its config table name); share it, don't copy it.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The connector's effective configuration.
    pub fn config(&self) -> &ConnectorConfig {
        &self.config
    }

    /// The stack (clone it to call it; clones share all state such as breakers and pools).
    pub fn service(&self) -> &ConnectorService {
        &self.service
    }
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("name", &self.name)
            .field("base_url", &self.config.base_url)
            .finish_non_exhaustive()
    }
}

/// The stacks of every connector of a configuration, built once.
#[derive(Clone, Debug)]
pub struct Stacks {
    connectors: HashMap<Arc<str>, Connector>,
    shared: Shared,
}

impl Stacks {
    /// Loads the config file at `path` and builds every connector's stack.
    pub fn from_config(path: impl AsRef<Path>) -> Result<Stacks, StackError> {
        Self::from_config_value(Config::load(path.as_ref())?)
    }

    /// Builds every connector's stack from an already loaded config.
    pub fn from_config_value(config: Config) -> Result<Stacks, StackError> {
        Self::with_shared(&config, Shared::default())
    }

    /// Builds every connector's stack, sharing `shared` (client, vault, ...).
    pub fn with_shared(config: &Config, shared: Shared) -> Result<Stacks, StackError> {
        let mut connectors = HashMap::with_capacity(config.connectors.len());
        for (name, connector) in &config.connectors {
            let name: Arc<str> = Arc::from(name.as_str());
            let service = build_connector_stack(&name, connector, &shared)?;
            connectors.insert(
                name.clone(),
                Connector {
                    name,
                    config: Arc::new(connector.clone()),
                    service,
                },
            );
        }
        Ok(Stacks { connectors, shared })
    }

    /// A clone of `name`'s stack, or an `unknown_connector` error.
    pub fn client(&self, name: &str) -> Result<ConnectorService, Error> {
        self.connector(name)
            .map(|c| c.service.clone())
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::UnknownConnector,
                    format!("no connector named {name:?}"),
                )
            })
    }

    /// The built connector `name`.
    pub fn connector(&self, name: &str) -> Option<&Connector> {
        self.connectors.get(name)
    }

    /// Every built connector (in no particular order).
    pub fn connectors(&self) -> impl Iterator<Item = &Connector> {
        self.connectors.values()
    }

    /// What the stacks share.
    pub fn shared(&self) -> &Shared {
        &self.shared
    }
}

/// Builds the stack of connector `name`: THE place where layers are composed.
///
/// Outermost first (ARCHITECTURE.md's order). Each slot is one line; a layer that depends on
/// an optional setting uses `.option_layer(cfg.x.as_ref().map(XLayer::from_config))`. Every
/// layer's service must be `Service<Request<Body>, Response = Response<Body>,
/// Error = tidegate_core::Error>` and `Clone + Send + Sync + 'static`.
pub fn build_connector_stack(
    name: &Arc<str>,
    cfg: &ConnectorConfig,
    shared: &Shared,
) -> Result<ConnectorService, StackError> {
    let base = UpstreamBase::parse(&cfg.base_url).map_err(|source| StackError::BaseUrl {
        connector: name.to_string(),
        source,
    })?;
    let layer_err = |message: String| StackError::Layer {
        connector: name.to_string(),
        message,
    };
    let breaker = resilience::breaker_settings(cfg.breaker.as_ref()).map_err(layer_err)?;
    let retry = resilience::retry_settings(cfg.retry.as_ref()).map_err(layer_err)?;
    let idempotency =
        resilience::idempotency_settings(cfg.idempotency.as_ref()).map_err(layer_err)?;
    let upstream = upstream::upstream_settings(cfg).map_err(layer_err)?;
    let boundary_log = (shared.boundary_log.as_ref())
        .map(|log| boundary_log::layer(log, name, cfg, &base, upstream.rate_limit.clone()));
    let stack = ServiceBuilder::new()
        // 1. request id / context: every inner layer may rely on a RequestContext.
        .layer(EnsureContextLayer::new(name.clone()))
        // 2. (boundary log: at 11b, just outside the HTTP client, so it logs every attempt as
        //    actually sent; see `boundary_log`.)
        // 3. rate-limit normalization (RateLimit-* headers, Retry-After, CONTRACT §5); outside
        //    error normalization so it sees the final status (a vendor 429-equivalent too).
        .layer(RateLimitHeadersLayer::new(upstream.rate_limit))
        // 4. error normalization (upstream >= 400 → problem+json, CONTRACT §4), OUTSIDE retry
        //    and breaker: they see the raw upstream response, so a vendor 429-equivalent it
        //    reclassifies is never retried nor counted, like a 429.
        .layer(
            ErrorNormalizationLayer::new(upstream.errors)
                .with_redactor(shared.boundary_log.as_ref().map(|l| l.redactor.clone())),
        )
        // 5. bulkhead (cfg.concurrency → 503 overloaded at once; a slot is held per call).
        .option_layer(cfg.concurrency.map(|n| BulkheadLayer::new(n as usize)))
        // 6. timeout for the whole call (cfg.timeout), retries included; publishes the
        //    Deadline; cuts a response body idle for cfg.body_idle_timeout.
        .layer(TimeoutLayer::new(resilience::timeout_settings(cfg)))
        // 7. idempotency key (caller's Idempotency-Key → cfg.idempotency.header), OUTSIDE
        //    retry so that every attempt carries the same key.
        .layer(IdempotencyLayer::new(idempotency))
        // 8. retry (budgeted; connect/reset/502-504 per cfg.retry; never 429; never past the
        //    deadline; writes only with an idempotency key).
        .option_layer(retry.map(RetryLayer::new))
        // 9. circuit breaker, INSIDE retry: every attempt counts, and an opening breaker ends
        //    the retries (circuit_open is not retried). 429s are not failures.
        .layer(CircuitBreakerLayer::new(&shared.breakers, name, breaker))
        // 9b. local pacing (rate_limit.local): 429 rate_limited from the gateway before the
        //     upstream quota is burnt; inside retry, so every real attempt is paced.
        .option_layer(upstream.pacing.map(LocalPacingLayer::new))
        // 10. credential injection (token from the vault; needs_reauth / token_refresh_failed).
        .option_layer(
            shared
                .vault
                .as_ref()
                .filter(|_| cfg.auth.stores_credentials())
                .map(|v| {
                    let auth = tidegate_vault::from_config::connector_auth(&cfg.auth);
                    tidegate_vault::CredentialLayer::new(v.clone(), name.clone(), auth)
                }),
        )
        // 11. timeout per attempt (cfg.attempt_timeout, never past the deadline).
        .option_layer(cfg.attempt_timeout.map(AttemptTimeoutLayer::new))
        // 11a. upstream-attempt metrics (count and latency by outcome, 429s), with or
        //      without a boundary log.
        .layer(tidegate_observe::attempt_metrics::AttemptMetricsLayer::new(
            name,
        ))
        // 11b. boundary log: one redacted JSON line per attempt, as sent and as received.
        .option_layer(boundary_log)
        // 12. HTTP client: join onto base_url, send with the shared pooled client.
        .service(UpstreamService::new(&shared.client, base));
    Ok(BoxCloneSyncService::new(stack))
}
