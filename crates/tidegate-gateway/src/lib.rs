//! The `tidegate serve` gateway: an axum/hyper app that runs the connector stacks of
//! [`tidegate_stack`] for callers over HTTP (CONTRACT §3, §4, §7).
//!
//! ```no_run
//! # async fn run(config: tidegate_config::Config) -> Result<(), Box<dyn std::error::Error>> {
//! let app = tidegate_gateway::App::from_config(config)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! app.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```
//!
//! Routes: `ANY /proxy/{connector}/{*path}` ([`proxy`]), `GET /healthz`, `GET /readyz`
//! ([`health`]), `GET /metrics` ([`metrics`]), `/admin/*` ([`admin`], admin-key guarded).
//! Everything else is a 404 `not_found` problem. Extension points for other components:
//! [`AppBuilder::merge`] (more top-level routes, e.g. `/connect`, `/webhooks`),
//! [`AppBuilder::readiness_check`], [`AppBuilder::extension`] (shared handles for handlers),
//! [`AppBuilder::shared`] (what the connector stacks share, e.g. the vault),
//! [`AppBuilder::metrics`] (register series), and the `admin` module's `routes()`.
#![forbid(unsafe_code)]

pub mod admin;
pub mod auth;
pub mod connect;
pub mod headers;
pub mod health;
pub mod limit;
pub mod metrics;
pub mod proxy;
mod server;
pub mod vault;

use std::{collections::HashMap, future::Future, sync::Arc};

use axum::{
    Router,
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::{any, get},
};
use http::HeaderValue;
use tidegate_config::Config;
use tidegate_core::{ErrorCode, Problem, RequestContext};
use tidegate_stack::{Shared, StackError, Stacks};

pub use health::ReadinessCheck;
pub use metrics::Metrics;

/// Shared state of the running app (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<Config>,
    stacks: Stacks,
    routes: HashMap<Box<str>, proxy::Route>,
    api_keys: auth::ApiKeys,
    admin_key: auth::AdminKey,
    max_request_body: u64,
    metrics: Metrics,
    readiness: Vec<Arc<dyn ReadinessCheck>>,
    extensions: http::Extensions,
}

impl AppState {
    /// The effective configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The connector stacks.
    pub fn stacks(&self) -> &Stacks {
        &self.inner.stacks
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// A handle registered with [`AppBuilder::extension`].
    pub fn extension<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.inner.extensions.get::<T>()
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// Assembles an [`App`] from a config plus what other components contribute.
pub struct AppBuilder {
    config: Config,
    shared: Shared,
    readiness: Vec<Arc<dyn ReadinessCheck>>,
    routers: Vec<Router<AppState>>,
    extensions: http::Extensions,
    metrics: Metrics,
}

impl AppBuilder {
    /// Starts from `config`.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            shared: Shared::default(),
            readiness: Vec::new(),
            routers: Vec::new(),
            extensions: http::Extensions::new(),
            metrics: Metrics::new(),
        }
    }

    /// What the connector stacks share (HTTP client, vault, ...).
    pub fn shared(mut self, shared: Shared) -> Self {
        self.shared = shared;
        self
    }

    /// Adds a dependency to `/readyz`.
    pub fn readiness_check(mut self, check: impl ReadinessCheck) -> Self {
        self.readiness.push(Arc::new(check));
        self
    }

    /// Adds top-level routes (they get the `X-Request-Id` echo and the 404 fallback).
    pub fn merge(mut self, router: Router<AppState>) -> Self {
        self.routers.push(router);
        self
    }

    /// Makes `value` available to handlers as `state.extension::<T>()`.
    pub fn extension<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.extensions.insert(value);
        self
    }

    /// The registry, to register more series before building.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Builds every connector stack and the router.
    pub fn build(self) -> Result<App, StackError> {
        let stacks = Stacks::with_shared(&self.config, self.shared)?;
        let routes = stacks
            .connectors()
            .map(|c| {
                let route = proxy::Route::new(
                    c.name().clone(),
                    c.service().clone(),
                    c.config().auth.stores_credentials(),
                    self.metrics.connector(c.name()),
                );
                (Box::from(&**c.name()), route)
            })
            .collect();
        let state = AppState {
            inner: Arc::new(Inner {
                api_keys: auth::ApiKeys::from_config(&self.config),
                admin_key: auth::AdminKey::from_config(&self.config),
                max_request_body: self.config.server.max_request_body.as_u64(),
                config: Arc::new(self.config),
                stacks,
                routes,
                metrics: self.metrics,
                readiness: self.readiness,
                extensions: self.extensions,
            }),
        };
        let mut router = Router::new()
            .route("/healthz", get(health::healthz))
            .route("/readyz", get(health::readyz))
            .route("/metrics", get(metrics_text))
            .nest("/admin", admin::router(state.clone()));
        for extra in self.routers {
            router = router.merge(extra);
        }
        let router = router
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(axum::middleware::from_fn(echo_request_id))
            // The proxy handles its own request id (it needs it before anything else).
            .route("/proxy/{*rest}", any(proxy_route))
            .with_state(state.clone());
        Ok(App { state, router })
    }
}

/// The gateway application: state plus router.
#[derive(Clone, Debug)]
pub struct App {
    state: AppState,
    router: Router,
}

impl App {
    /// Builds the app with nothing but the config.
    pub fn from_config(config: Config) -> Result<App, StackError> {
        AppBuilder::new(config).build()
    }

    /// Starts a builder (to add readiness checks, routes, shared handles).
    pub fn builder(config: Config) -> AppBuilder {
        AppBuilder::new(config)
    }

    /// The complete router (e.g. for `tower::ServiceExt::oneshot` in tests).
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The shared state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves on `listener` until `shutdown` resolves, then stops accepting and waits for
    /// in-flight requests for at most `server.shutdown_grace`.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        let grace = self.state.inner.config.server.shutdown_grace;
        server::serve(listener, self.state, self.router, shutdown, grace).await
    }
}

/// A problem response for an error the gateway itself produced (X-Request-Id and the body's
/// `request_id` come from `ctx` when given).
pub fn problem(
    code: ErrorCode,
    detail: impl Into<String>,
    ctx: Option<&RequestContext>,
) -> Response {
    let mut p = Problem::new(code, detail);
    if let Some(ctx) = ctx {
        p = p.with_context(ctx);
    }
    p.into_response().map(axum::body::Body::new)
}

pub(crate) async fn not_found() -> Response {
    problem(ErrorCode::NotFound, "no such route", None)
}

async fn method_not_allowed() -> Response {
    let mut p = Problem::new(
        ErrorCode::InvalidRequest,
        "method not allowed on this route",
    );
    p.status = 405;
    p.into_response().map(axum::body::Body::new)
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    (
        [(http::header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.inner.metrics.encode(),
    )
        .into_response()
}

async fn proxy_route(State(state): State<AppState>, req: Request) -> Response {
    proxy::handle(&state, req, None)
        .await
        .map(axum::body::Body::new)
}

/// Echoes (or generates) `X-Request-Id` on every non-proxy response.
async fn echo_request_id(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(headers::X_REQUEST_ID)
        .filter(|v| tidegate_core::context::is_valid_request_id(v.as_bytes()))
        .cloned();
    let mut response = next.run(req).await;
    if !response.headers().contains_key(headers::X_REQUEST_ID) {
        let id = id.unwrap_or_else(|| {
            HeaderValue::try_from(tidegate_core::context::new_request_id())
                .expect("a UUID is a valid header value")
        });
        response.headers_mut().insert(headers::X_REQUEST_ID, id);
    }
    response
}
