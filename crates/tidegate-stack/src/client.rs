//! The innermost service of every connector stack: joins the request onto the connector's
//! `base_url` and sends it with the process-wide pooled HTTP client.
//!
//! One [`HttpClient`] is shared by all connectors (one connection pool, keep-alive, TLS via
//! rustls with aws-lc-rs and the webpki roots; plain http only for loopback bases, see
//! [`UpstreamBase`]). Bodies stream both ways: the request body is handed to hyper as is and
//! the response body is boxed, never collected.
//!
//! The pool is sharded per server thread: the gateway runs one single-threaded runtime per
//! core (see `tidegate_gateway::server`) and each thread uses its own shard, so a pooled
//! connection's task lives on the thread that uses it and a request never wakes another
//! thread (cross-thread wake-ups cost more than the proxying itself on small requests).
//! Threads that never call [`set_current_shard`] (in-process callers) use shard 0.
//!
//! Transport failures become classified [`Error`]s here, once: refused / DNS / reset →
//! `upstream_unavailable`; an error raised by the *request body itself* that is already a
//! classified [`Error`] (e.g. the gateway's `payload_too_large` limit) keeps its class.

use std::{
    cell::Cell,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use http::{Request, Response};
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioTimer},
};
use tidegate_core::{Body, Error, ErrorCode};

use crate::base_url::UpstreamBase;

type Inner = Client<HttpsConnector<HttpConnector>, Body>;

/// The pooled upstream HTTP client. Cheap to clone (shares the pools).
#[derive(Clone, Debug)]
pub struct HttpClient {
    shards: Arc<[Inner]>,
}

thread_local! {
    static SHARD: Cell<usize> = const { Cell::new(0) };
}

/// Makes the current thread use pool shard `index` (modulo the shard count).
pub fn set_current_shard(index: usize) {
    SHARD.with(|s| s.set(index));
}

/// The default number of pool shards: one per available core.
pub fn default_shards() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl HttpClient {
    /// A client with the default pool settings.
    pub fn new() -> Self {
        Self::with_options(ClientOptions::default())
    }

    /// A client with `options`.
    pub fn with_options(options: ClientOptions) -> Self {
        let shards = options.shards.max(1);
        Self {
            shards: (0..shards).map(|_| build(&options)).collect(),
        }
    }
}

fn build(options: &ClientOptions) -> Inner {
    let mut http = HttpConnector::new();
    // hyper-rustls handles https; the inner connector must accept both schemes.
    http.enforce_http(false);
    // Small request/response exchanges must not wait for Nagle's algorithm.
    http.set_nodelay(true);
    http.set_keepalive(Some(Duration::from_secs(60)));
    http.set_connect_timeout(options.connect_timeout);
    let tls = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::aws_lc_rs::default_provider())
        .expect("aws-lc-rs supports the default protocol versions")
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(options.pool_idle_timeout)
        .pool_max_idle_per_host(options.pool_max_idle_per_host)
        .build(tls)
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

/// Pool and connect settings of the shared client.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Bound on establishing a TCP connection (DNS + connect). TLS and the exchange itself are
    /// bounded by the stack's timeout layers.
    pub connect_timeout: Option<Duration>,
    /// Idle pooled connections are closed after this long.
    pub pool_idle_timeout: Duration,
    /// At most this many idle connections are kept per upstream host.
    pub pool_max_idle_per_host: usize,
    /// Independent pools, one per server thread ([`set_current_shard`]).
    pub shards: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Some(Duration::from_secs(10)),
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 256,
            shards: default_shards(),
        }
    }
}

/// The innermost service: `Request<Body>` with a relative URI → upstream response.
#[derive(Clone, Debug)]
pub struct UpstreamService {
    clients: Arc<[Inner]>,
    base: Arc<UpstreamBase>,
}

impl UpstreamService {
    /// Sends requests for `base` through `client`.
    pub fn new(client: &HttpClient, base: UpstreamBase) -> Self {
        Self {
            clients: client.shards.clone(),
            base: Arc::new(base),
        }
    }
}

impl tower::Service<Request<Body>> for UpstreamService {
    type Response = Response<Body>;
    type Error = Error;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        // hyper's legacy client is always ready; pooling happens inside `request`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Body>) -> ResponseFuture {
        *req.uri_mut() = self.base.join(req.uri());
        // hyper sets Host from the (upstream) URI when the request carries none; a caller's
        // Host names the gateway, never the upstream.
        req.headers_mut().remove(http::header::HOST);
        let shard = SHARD.with(Cell::get) % self.clients.len();
        ResponseFuture {
            inner: self.clients[shard].request(req),
        }
    }
}

/// Future of [`UpstreamService`].
pub struct ResponseFuture {
    inner: hyper_util::client::legacy::ResponseFuture,
}

impl Future for ResponseFuture {
    type Output = Result<Response<Body>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.inner).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(response)) => Poll::Ready(Ok(response.map(tidegate_core::body::boxed))),
            Poll::Ready(Err(err)) => Poll::Ready(Err(classify(err))),
        }
    }
}

/// Classifies a transport failure (see the module docs).
pub fn classify(err: hyper_util::client::legacy::Error) -> Error {
    // A classified error raised by the request body (e.g. a size limit) keeps its class.
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&err);
    while let Some(e) = source {
        if let Some(ours) = e.downcast_ref::<Error>() {
            return Error::new(ours.code(), ours.detail());
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return Error::new(
                ErrorCode::UpstreamTimeout,
                "connecting to the upstream timed out",
            )
            .with_source(err);
        }
        source = e.source();
    }
    let detail = if err.is_connect() {
        "could not connect to the upstream"
    } else {
        "the upstream closed or reset the connection"
    };
    Error::new(ErrorCode::UpstreamUnavailable, detail).with_source(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn refused_connection_is_upstream_unavailable() {
        // Bind then drop a listener to get a port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = UpstreamBase::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        let svc = UpstreamService::new(&HttpClient::new(), base);
        let err = svc
            .oneshot(
                Request::get("/x")
                    .body(tidegate_core::body::empty())
                    .unwrap(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::UpstreamUnavailable);
        assert!(err.detail().contains("connect"), "{err}");
    }
}
