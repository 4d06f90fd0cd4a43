//! The innermost service of every connector stack: joins the request onto the connector's
//! `base_url` and sends it with the process-wide pooled HTTP client.
//!
//! One [`HttpClient`] (the connector: DNS, TCP with `TCP_NODELAY` and keep-alive, TLS via
//! rustls with aws-lc-rs and the webpki roots; plain http only for loopback bases, see
//! [`UpstreamBase`]) is shared by all connectors; each [`UpstreamService`] keeps its own pool
//! of HTTP/1.1 keep-alive connections to its one upstream. Bodies stream both ways: the request
//! body is handed to hyper as is and the response body is boxed, never collected.
//!
//! Why our own pool rather than hyper-util's pooled client: a connector talks to exactly one
//! origin, so the pool needs no per-host map, no checkout future and no waiter queue; it is a
//! stack of idle `SendRequest` handles per server thread, behind an uncontended mutex. On the
//! gateway's load test this took 2 µs of CPU off every request (16.2 → 14.0 µs for a bare
//! hyper proxy; see `docs/performance.md`).
//!
//! The pool is sharded per server thread: the gateway runs one single-threaded runtime per
//! core (see `tidegate_gateway::server`) and each thread uses its own shard, so a pooled
//! connection's task lives on the thread that uses it and a request never wakes another
//! thread (cross-thread wake-ups cost more than the proxying itself on small requests).
//! Threads that never call [`set_current_shard`] (in-process callers) use shard 0.
//!
//! A connection goes back to the pool only when its response body was read to the end (a
//! body dropped half-way leaves the connection unusable, so it is closed), and a request that
//! could not be written because a pooled connection had just been closed by the upstream is
//! sent once more on a fresh connection (nothing of it reached the upstream).
//!
//! Transport failures become classified [`Error`]s here, once: refused / DNS / reset →
//! `upstream_unavailable`; an error raised by the *request body itself* that is already a
//! classified [`Error`] (e.g. the gateway's `payload_too_large` limit) keeps its class.

use std::{
    cell::Cell,
    collections::VecDeque,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, Uri, header::HOST};
use hyper::{body::Incoming, client::conn::http1};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use tidegate_core::{Body, Error, ErrorCode};
// tokio's clock: the same as std's in production, and pausable in tests.
use tokio::time::Instant;
use tower::ServiceExt;

use crate::base_url::UpstreamBase;

type Connector = HttpsConnector<HttpConnector>;
type Sender = http1::SendRequest<Body>;

/// The shared upstream connector and pool settings. Cheap to clone.
#[derive(Clone, Debug)]
pub struct HttpClient {
    connector: Connector,
    options: ClientOptions,
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
        let mut http = HttpConnector::new();
        // hyper-rustls handles https; the inner connector must accept both schemes.
        http.enforce_http(false);
        // Small request/response exchanges must not wait for Nagle's algorithm.
        http.set_nodelay(true);
        http.set_keepalive(Some(Duration::from_secs(60)));
        http.set_connect_timeout(options.connect_timeout);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::aws_lc_rs::default_provider())
            .expect("aws-lc-rs supports the default protocol versions")
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Self { connector, options }
    }
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
    /// At most this many idle connections are kept per upstream and server thread.
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

/// One upstream's keep-alive connections: a LIFO stack of idle senders per shard (the most
/// recently used connection is the warmest; the oldest ones expire from the bottom).
#[derive(Debug)]
struct Pool {
    connector: Connector,
    origin: Uri,
    idle_timeout: Duration,
    max_idle: usize,
    shards: Box<[Mutex<VecDeque<Idle>>]>,
}

#[derive(Debug)]
struct Idle {
    sender: Sender,
    since: Instant,
}

impl Pool {
    fn shard(&self) -> &Mutex<VecDeque<Idle>> {
        &self.shards[SHARD.with(Cell::get) % self.shards.len()]
    }

    /// The most recently released live connection of this thread's shard, if any.
    fn take_idle(&self) -> Option<Sender> {
        let mut idle = self.shard().lock().unwrap_or_else(|e| e.into_inner());
        while let Some(entry) = idle.pop_back() {
            if !entry.sender.is_closed() && entry.since.elapsed() < self.idle_timeout {
                return Some(entry.sender);
            }
        }
        None
    }

    /// Returns a connection whose exchange is complete.
    fn release(&self, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut idle = self.shard().lock().unwrap_or_else(|e| e.into_inner());
        while idle
            .front()
            .is_some_and(|e| now.duration_since(e.since) >= self.idle_timeout)
        {
            idle.pop_front();
        }
        if idle.len() < self.max_idle {
            idle.push_back(Idle { sender, since: now });
        }
    }

    /// A pooled connection ready for a request, or a new one.
    async fn checkout(&self) -> Result<Sender, Error> {
        while let Some(mut sender) = self.take_idle() {
            // Released connections become ready as soon as their task has seen the end of the
            // previous exchange (at most a scheduler tick); a closed one errors and is skipped.
            if sender.ready().await.is_ok() {
                return Ok(sender);
            }
        }
        self.connect().await
    }

    async fn connect(&self) -> Result<Sender, Error> {
        let io = self
            .connector
            .clone()
            .oneshot(self.origin.clone())
            .await
            .map_err(|err| classify_connect(&*err))?;
        let (sender, connection) = http1::handshake(io).await.map_err(|err| {
            Error::new(
                ErrorCode::UpstreamUnavailable,
                "the upstream closed the connection during the handshake",
            )
            .with_source(err)
        })?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%err, "upstream connection ended with an error");
            }
        });
        Ok(sender)
    }
}

/// The innermost service: `Request<Body>` with a relative URI → upstream response.
#[derive(Clone, Debug)]
pub struct UpstreamService {
    pool: Arc<Pool>,
    base: Arc<UpstreamBase>,
    host: HeaderValue,
}

impl UpstreamService {
    /// Sends requests for `base` with `client`'s connector, over this service's own pool.
    pub fn new(client: &HttpClient, base: UpstreamBase) -> Self {
        let shards = client.options.shards.max(1);
        let pool = Pool {
            connector: client.connector.clone(),
            origin: base.origin(),
            idle_timeout: client.options.pool_idle_timeout,
            max_idle: client.options.pool_max_idle_per_host,
            shards: (0..shards).map(|_| Mutex::default()).collect(),
        };
        Self {
            pool: Arc::new(pool),
            host: base.host_header(),
            base: Arc::new(base),
        }
    }
}

impl tower::Service<Request<Body>> for UpstreamService {
    type Response = Response<Body>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        // Pooling and connecting happen inside the call.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        // Origin form on the request line; Host names the upstream, never the gateway (a
        // caller's Host is replaced).
        *req.uri_mut() = Uri::from(self.base.origin_form(req.uri()));
        req.headers_mut().insert(HOST, self.host.clone());
        let pool = self.pool.clone();
        Box::pin(send(pool, req))
    }
}

async fn send(pool: Arc<Pool>, req: Request<Body>) -> Result<Response<Body>, Error> {
    let mut sender = pool.checkout().await?;
    let response = match sender.try_send_request(req).await {
        Ok(response) => response,
        Err(mut failed) => match failed.take_message() {
            // Not written: the pooled connection was closed under us. Once more on a fresh one.
            Some(req) => {
                sender = pool.connect().await?;
                sender.send_request(req).await.map_err(classify)?
            }
            None => return Err(classify(failed.into_error())),
        },
    };
    Ok(response.map(|body| {
        tidegate_core::body::boxed(PooledBody {
            inner: body,
            lease: Some((sender, pool)),
        })
    }))
}

/// The response body; hands the connection back to the pool once the body has been read to
/// the end (or was empty), never when it is dropped half-way.
struct PooledBody {
    inner: Incoming,
    lease: Option<(Sender, Arc<Pool>)>,
}

impl PooledBody {
    fn release_if_done(&mut self) {
        if hyper::body::Body::is_end_stream(&self.inner)
            && let Some((sender, pool)) = self.lease.take()
        {
            pool.release(sender);
        }
    }
}

impl hyper::body::Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => {
                if let Some((sender, pool)) = self.lease.take() {
                    pool.release(sender);
                }
            }
            Poll::Ready(Some(Ok(_))) => self.release_if_done(),
            Poll::Ready(Some(Err(_))) => self.lease = None,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        // An empty body (204, HEAD, content-length: 0) may never be polled.
        self.release_if_done();
    }
}

/// Classifies a failure to establish a connection.
fn classify_connect(err: &(dyn std::error::Error + Send + Sync + 'static)) -> Error {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return Error::new(
                ErrorCode::UpstreamTimeout,
                "connecting to the upstream timed out",
            );
        }
        source = e.source();
    }
    Error::new(
        ErrorCode::UpstreamUnavailable,
        format!("could not connect to the upstream: {err}"),
    )
}

/// Classifies a failed exchange: an error raised by the request body itself that is already
/// classified (e.g. the gateway's `payload_too_large` limit) keeps its class; anything else is
/// the upstream closing or resetting the connection.
pub fn classify(err: hyper::Error) -> Error {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&err);
    while let Some(e) = source {
        if let Some(ours) = e.downcast_ref::<Error>() {
            return Error::new(ours.code(), ours.detail());
        }
        source = e.source();
    }
    Error::new(
        ErrorCode::UpstreamUnavailable,
        "the upstream closed or reset the connection",
    )
    .with_source(err)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tower::ServiceExt;

    use super::*;

    /// How a test upstream treats its keep-alive connections.
    #[derive(Clone, Copy)]
    enum Upstream {
        /// Keeps every connection open; answers `{"n":…}` (a 2 KiB body with `big`).
        KeepAlive { big: bool },
        /// Closes each connection right after one response, without saying so.
        CloseSilently,
    }

    /// A minimal HTTP/1.1 upstream counting the connections it accepted.
    async fn upstream(kind: Upstream) -> (u16, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                            match conn.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                        buf.drain(..end);
                        let body = match kind {
                            Upstream::KeepAlive { big: true } => "x".repeat(2048),
                            _ => "{}".to_owned(),
                        };
                        let head =
                            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
                        if conn.write_all(head.as_bytes()).await.is_err()
                            || conn.write_all(body.as_bytes()).await.is_err()
                        {
                            return;
                        }
                        if matches!(kind, Upstream::CloseSilently) {
                            return;
                        }
                    }
                });
            }
        });
        (port, accepted)
    }

    fn service(port: u16) -> UpstreamService {
        let base = UpstreamBase::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        UpstreamService::new(&HttpClient::new(), base)
    }

    async fn get(svc: &UpstreamService) -> Response<Body> {
        let req = Request::get("/x")
            .body(tidegate_core::body::empty())
            .unwrap();
        svc.clone().oneshot(req).await.unwrap()
    }

    /// A GET whose response body is read to the end.
    async fn get_body(svc: &UpstreamService) -> Bytes {
        get(svc)
            .await
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
    }

    #[tokio::test]
    async fn connections_are_reused_once_a_body_is_read() {
        let (port, accepted) = upstream(Upstream::KeepAlive { big: false }).await;
        let svc = service(port);
        for _ in 0..5 {
            let response = get(&svc).await;
            assert_eq!(response.status(), 200);
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"{}");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_body_dropped_half_way_does_not_return_its_connection() {
        let (port, accepted) = upstream(Upstream::KeepAlive { big: true }).await;
        let svc = service(port);
        drop(get(&svc).await); // not read: the connection must not be handed out again
        assert_eq!(get_body(&svc).await.len(), 2048);
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        // ... and the fully read one is.
        assert_eq!(get_body(&svc).await.len(), 2048);
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_connection_the_upstream_closed_is_replaced_transparently() {
        let (port, accepted) = upstream(Upstream::CloseSilently).await;
        let svc = service(port);
        for i in 0..4 {
            assert_eq!(&get_body(&svc).await[..], b"{}");
            // Every other time, let the connection task see the close before the next
            // checkout; otherwise the checkout races it. Both must work.
            if i % 2 == 0 {
                tokio::task::yield_now().await;
            }
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_connections_expire() {
        let (port, accepted) = upstream(Upstream::KeepAlive { big: false }).await;
        let client = HttpClient::with_options(ClientOptions {
            pool_idle_timeout: Duration::from_secs(90),
            ..ClientOptions::default()
        });
        let base = UpstreamBase::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        let svc = UpstreamService::new(&client, base);
        get_body(&svc).await;
        tokio::time::advance(Duration::from_secs(89)).await;
        get_body(&svc).await;
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            1,
            "reused within the idle timeout"
        );
        tokio::time::advance(Duration::from_secs(91)).await;
        get_body(&svc).await;
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            2,
            "an expired connection is not reused"
        );
    }

    #[tokio::test]
    async fn refused_connection_is_upstream_unavailable() {
        // Bind then drop a listener to get a port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = service(port)
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
