//! The floor of the proxy benchmark: a reverse proxy made of hyper and tokio alone, with none
//! of tidegate's work (no api key, no route, no header hygiene, no layers, no log, no metrics).
//!
//! Why it exists: `benches/proxy_throughput.sh` compares `tidegate serve` with nginx. On a
//! 2-core machine where wrk, the upstream and the proxy share the cores, the ratio is set by
//! each proxy's CPU per request, and this program shows how much of tidegate's is the HTTP
//! stack it is built on (hyper + tokio, the dependency decision of `docs/decisions/`) rather
//! than what tidegate adds. It is structured like `tidegate serve` at its leanest: one
//! single-threaded runtime per core accepting on one shared socket, and per thread a LIFO stack
//! of idle keep-alive upstream connections on hyper's connection API, handed back when a
//! response body has been read to the end. Plain http to a loopback upstream only.
//!
//! ```text
//! cargo run --release -p tidegate --example bare_hyper_proxy -- 127.0.0.1:8080 127.0.0.1:9000
//! ```

#![forbid(unsafe_code)]

use std::{
    cell::RefCell,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, Uri, header::HOST};
use hyper::{
    body::{Body, Frame, Incoming, SizeHint},
    client::conn::http1 as client,
    server::conn::http1 as server,
    service::service_fn,
};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

// The same allocator as the `tidegate` binary, so the comparison is of the code, not malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Sender = client::SendRequest<Incoming>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

thread_local! {
    /// This thread's idle upstream connections (the runtime is single-threaded, so each
    /// connection's task runs on the thread that uses it).
    static IDLE: RefCell<Vec<Sender>> = const { RefCell::new(Vec::new()) };
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: bare_hyper_proxy LISTEN_ADDR UPSTREAM_ADDR");
        std::process::exit(2);
    };
    let upstream: SocketAddr = upstream.parse().map_err(std::io::Error::other)?;
    let listener = std::net::TcpListener::bind(&listen)?;
    listener.set_nonblocking(true)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let listener = listener.try_clone()?;
            Ok(std::thread::spawn(move || serve(listener, upstream)))
        })
        .collect::<std::io::Result<_>>()?;
    for worker in workers {
        worker.join().expect("worker thread panicked")?;
    }
    Ok(())
}

fn serve(listener: std::net::TcpListener, upstream: SocketAddr) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::from_std(listener)?;
        let host = HeaderValue::try_from(upstream.to_string()).map_err(std::io::Error::other)?;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let host = host.clone();
            let service = service_fn(move |req| forward(req, upstream, host.clone()));
            tokio::spawn(async move {
                let _ = server::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

async fn forward(
    mut req: Request<Incoming>,
    upstream: SocketAddr,
    host: HeaderValue,
) -> Result<Response<PooledBody>, BoxError> {
    let origin_form = req
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
    *req.uri_mut() = Uri::from(origin_form);
    req.headers_mut().insert(HOST, host);
    let mut sender = checkout(upstream).await?;
    let response = sender.send_request(req).await?;
    Ok(response.map(|inner| PooledBody {
        inner,
        sender: Some(sender),
    }))
}

/// The most recently used idle connection that is still open, or a new one.
async fn checkout(upstream: SocketAddr) -> Result<Sender, BoxError> {
    while let Some(mut sender) = IDLE.with(|idle| idle.borrow_mut().pop()) {
        if sender.ready().await.is_ok() {
            return Ok(sender);
        }
    }
    // An error closes the caller's connection (hyper's server does that for a failed service).
    let stream = TcpStream::connect(upstream).await?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = client::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// The upstream response body; its connection goes back to the idle stack at the end (a body
/// dropped half-way drops its connection).
struct PooledBody {
    inner: Incoming,
    sender: Option<Sender>,
}

impl PooledBody {
    fn release(&mut self) {
        if let Some(sender) = self.sender.take() {
            IDLE.with(|idle| idle.borrow_mut().push(sender));
        }
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        // An empty body may never be polled.
        if self.inner.is_end_stream() {
            self.release();
        }
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.release();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
