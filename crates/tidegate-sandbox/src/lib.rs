//! An offline provider for tidegate's demo, examples, tests and benchmarks.
//!
//! A real HTTP server on a loopback port whose behaviour tests script at runtime, so that the
//! gateway is exercised over real sockets (keep-alive, streaming, resets) without any network.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use tidegate_sandbox::{Sandbox, Script};
//!
//! let sandbox = Sandbox::start().await?;
//! // The next three calls to /crm/v3/objects/contacts answer 500, 500, then 200 (and 200 after).
//! sandbox.script("/crm/v3/objects/contacts", Script::statuses("500,500,200").unwrap());
//! let url = format!("{}/echo?x=1", sandbox.base_url());
//! # let _ = url;
//! assert_eq!(sandbox.counters().get("/crm/v3/objects/contacts"), 0);
//! # Ok(()) }
//! ```
//!
//! Built-in routes (every one counted per path, see [`Counters`]):
//!
//! | route | behaviour |
//! |---|---|
//! | `ANY /echo`, `ANY /echo/{*rest}` | JSON of what arrived: method, path, query, headers, body (byte count + SHA-256; the text too when small) — see [`echo`] |
//! | `GET /stream/bytes/{n}` | `n` bytes, generated chunk by chunk (`?chunk=` size) — see [`stream`] |
//! | `ANY /status/{code}` | that status with a small JSON body |
//! | `ANY /delay/{ms}` | 200 after `ms` milliseconds |
//! | `ANY /hang` | never answers |
//! | `ANY /reset` | drops the connection without an answer |
//! | `ANY /ratelimit/{vendor}` | a 429 (403 for salesforce) shaped like that vendor's — see [`ratelimit`] |
//! | `GET /crm/v3/objects/contacts` | a small fixed HubSpot-like page of contacts |
//! | `POST /_sandbox/script`, `DELETE /_sandbox/script` | set / clear scripts (JSON [`ScriptRequest`]) |
//! | `GET /_sandbox/counters` | the per-path request counters as JSON |
//!
//! A script set for a path takes precedence over the built-in route of that path (see
//! [`faults`]). Other helpers extend the sandbox by adding a module here and a `Router` to
//! [`Sandbox::merge`] (e.g. an OAuth token endpoint, a webhook sender).
#![forbid(unsafe_code)]

pub mod echo;
pub mod faults;
pub mod idempotency;
pub mod oauth;
pub mod ratelimit;
pub mod receiver;
pub mod records;
pub mod stream;
pub mod webhooks;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    extract::{Path, State},
    response::{IntoResponse, Response},
    routing::{any, get, post},
};
use http::StatusCode;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tower::ServiceExt;

pub use faults::{Script, ScriptRequest, Step};
pub use ratelimit::Vendor;

/// Requests seen, per request path. Tests read these to prove what reached the upstream
/// (e.g. that a 429 was not retried).
#[derive(Clone, Debug, Default)]
pub struct Counters(Arc<Mutex<HashMap<String, u64>>>);

impl Counters {
    /// Requests seen for `path` so far.
    pub fn get(&self, path: &str) -> u64 {
        self.lock().get(path).copied().unwrap_or(0)
    }

    /// Requests seen for all paths.
    pub fn total(&self) -> u64 {
        self.lock().values().sum()
    }

    /// A copy of all counters.
    pub fn snapshot(&self) -> HashMap<String, u64> {
        self.lock().clone()
    }

    /// Forgets all counts.
    pub fn clear(&self) {
        self.lock().clear();
    }

    pub(crate) fn hit(&self, path: &str) {
        let mut map = self.lock();
        match map.get_mut(path) {
            Some(n) => *n += 1,
            None => {
                map.insert(path.to_owned(), 1);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Shared state of one sandbox: counters and scripts.
#[derive(Clone, Debug, Default)]
pub struct SandboxState {
    counters: Counters,
    scripts: faults::Scripts,
}

impl SandboxState {
    /// The per-path request counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The scripted behaviours.
    pub fn scripts(&self) -> &faults::Scripts {
        &self.scripts
    }
}

/// Builder of a sandbox server.
#[derive(Default)]
pub struct Sandbox {
    extra: Vec<Router>,
    state: SandboxState,
}

impl Sandbox {
    /// A sandbox with the built-in routes only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a sandbox with the built-in routes on `127.0.0.1:0`.
    pub async fn start() -> std::io::Result<SandboxHandle> {
        Self::new()
            .bind("127.0.0.1:0".parse().expect("valid addr"))
            .await
    }

    /// Adds routes (e.g. an OAuth token endpoint). They see the same counting and scripting.
    pub fn merge(mut self, router: Router) -> Self {
        self.extra.push(router);
        self
    }

    /// The state the server will use (to share counters with merged routers before starting).
    pub fn state(&self) -> &SandboxState {
        &self.state
    }

    /// The complete router (built-ins, merged routers, scripting and counting).
    pub fn router(&self) -> Router {
        let mut router = Router::new()
            .route("/echo", any(echo::echo))
            .route("/echo/{*rest}", any(echo::echo))
            .route("/stream/bytes/{n}", get(stream::bytes))
            .route("/status/{code}", any(status))
            .route("/delay/{ms}", any(delay))
            .route("/hang", any(|| faults::Step::hang().respond()))
            .route("/reset", any(|| faults::Step::reset().respond()))
            .route("/ratelimit/{vendor}", any(ratelimit::route))
            .route("/crm/v3/objects/contacts", get(contacts))
            .route(
                "/_sandbox/script",
                post(faults::set_script).delete(faults::clear_scripts),
            )
            .route("/_sandbox/counters", get(counters))
            .with_state(self.state.clone());
        for extra in &self.extra {
            router = router.merge(extra.clone());
        }
        router
            .fallback(not_found)
            .layer(axum::middleware::from_fn_with_state(
                self.state.clone(),
                faults::script_and_count,
            ))
    }

    /// Starts serving on `addr` (use port 0 for a free port).
    pub async fn bind(self, addr: SocketAddr) -> std::io::Result<SandboxHandle> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let router = self.router();
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, router, stop_rx));
        Ok(SandboxHandle {
            addr,
            state: self.state,
            stop: stop_tx,
            task,
        })
    }
}

/// A running sandbox. Dropping it stops accepting new connections.
pub struct SandboxHandle {
    addr: SocketAddr,
    state: SandboxState,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl SandboxHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The per-path request counters.
    pub fn counters(&self) -> &Counters {
        &self.state.counters
    }

    /// Scripts `path` (replacing any earlier script of that path).
    pub fn script(&self, path: &str, script: Script) {
        self.state.scripts.set(path, script);
    }

    /// Removes every script.
    pub fn clear_scripts(&self) {
        self.state.scripts.clear();
    }

    /// Stops accepting connections and waits for the accept loop to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let _ = (&mut self.task).await;
    }

    /// Serves until `signal` resolves (used by `tidegate sandbox`).
    pub async fn run_until(self, signal: impl std::future::Future<Output = ()>) {
        signal.await;
        self.shutdown().await;
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Marker placed in a response's extensions to make the server drop the connection instead
/// of answering (a "connection reset" fault).
#[derive(Clone, Copy, Debug)]
pub(crate) struct DropConnection;

#[derive(Debug)]
struct DroppedOnPurpose;

impl std::fmt::Display for DroppedOnPurpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("sandbox dropped the connection on purpose")
    }
}

impl std::error::Error for DroppedOnPurpose {}

/// Our own accept loop (rather than `axum::serve`) so that a handler can make the server drop
/// the connection: a service error makes hyper close the socket without writing a response.
async fn accept_loop(listener: TcpListener, router: Router, mut stop: watch::Receiver<bool>) {
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(err) => {
                    tracing::warn!(%err, "sandbox accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                let router = router.clone();
                async move {
                    let response = router
                        .oneshot(req.map(axum::body::Body::new))
                        .await
                        .unwrap_or_else(|never| match never {});
                    if response.extensions().get::<DropConnection>().is_some() {
                        Err(DroppedOnPurpose)
                    } else {
                        Ok(response)
                    }
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn status(Path(code): Path<u16>) -> Response {
    match StatusCode::from_u16(code) {
        Ok(status) => (
            status,
            Json(
                serde_json::json!({ "status": code, "message": format!("sandbox status {code}") }),
            ),
        )
            .into_response(),
        Err(_) => (StatusCode::BAD_REQUEST, "bad status code").into_response(),
    }
}

async fn delay(Path(ms): Path<u64>) -> Response {
    faults::Step::delay(ms).respond().await
}

async fn counters(State(state): State<SandboxState>) -> Json<HashMap<String, u64>> {
    Json(state.counters.snapshot())
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "status": "error", "message": "no such sandbox route" })),
    )
        .into_response()
}

/// A fixed page of HubSpot-shaped contacts, for the example and the demo.
async fn contacts() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "results": [
            { "id": "101", "properties": { "firstname": "Ada", "lastname": "Lovelace" },
              "updatedAt": "2026-01-01T00:00:00Z" },
            { "id": "102", "properties": { "firstname": "Alan", "lastname": "Turing" },
              "updatedAt": "2026-01-02T00:00:00Z" }
        ],
        "paging": null
    }))
}
