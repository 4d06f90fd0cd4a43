//! The accept loop: hyper HTTP/1.1 connections with `TCP_NODELAY`, proxied requests
//! dispatched straight to [`proxy::handle`](crate::proxy::handle) (no router, no extra body
//! boxing), everything else to the axum router; graceful shutdown bounded by a grace period.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use axum::Router;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use tidegate_core::Body;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::{AppState, auth::KnownKey, proxy};

/// How long a client may take to send request headers (slowloris protection).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// One client connection's service.
#[derive(Clone)]
struct Gateway {
    state: AppState,
    router: Router,
    /// The connection's remembered api key (fresh per connection, see [`KnownKey`]).
    known: Arc<KnownKey>,
}

impl Gateway {
    /// The service for a new client connection: shared state, nothing remembered.
    fn for_connection(state: &AppState, router: &Router) -> Gateway {
        Gateway {
            state: state.clone(),
            router: router.clone(),
            known: Arc::default(),
        }
    }
}

impl hyper::service::Service<Request<Incoming>> for Gateway {
    type Response = Response<Body>;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Self::Error>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        if req.uri().path().starts_with(proxy::PREFIX) {
            let state = self.state.clone();
            let known = self.known.clone();
            Box::pin(async move { Ok(proxy::handle(&state, req, Some(&known)).await) })
        } else {
            let router = self.router.clone();
            Box::pin(async move {
                let response = router
                    .oneshot(req.map(axum::body::Body::new))
                    .await
                    .unwrap_or_else(|never| match never {});
                Ok(response.map(tidegate_core::body::boxed))
            })
        }
    }
}

/// Serves on `listener` with one single-threaded runtime per core ("thread per core", like
/// nginx's workers): each thread accepts on the shared socket, runs its connections and uses
/// its own upstream pool shard ([`tidegate_stack::client::set_current_shard`]), so a
/// request's whole path stays on one thread and never pays a cross-thread wake-up. The
/// connector stacks (and their shared state: breakers, budgets, bulkheads) are still built
/// once and shared. `TIDEGATE_WORKERS` overrides the thread count.
pub(crate) async fn serve(
    listener: TcpListener,
    state: AppState,
    router: Router,
    shutdown: impl Future<Output = ()> + Send,
    grace: Duration,
) -> std::io::Result<()> {
    let workers = std::env::var("TIDEGATE_WORKERS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(tidegate_stack::client::default_shards);
    let std_listener = listener.into_std()?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut done = Vec::with_capacity(workers);
    for index in 0..workers {
        let listener = std_listener.try_clone()?;
        let (state, router) = (state.clone(), router.clone());
        let mut stop = stop_rx.clone();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<std::io::Result<()>>();
        done.push(done_rx);
        std::thread::Builder::new()
            .name(format!("tidegate-http-{index}"))
            .spawn(move || {
                let result = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .and_then(|rt| {
                        tidegate_stack::client::set_current_shard(index);
                        rt.block_on(async move {
                            tokio::spawn(keep_time_driver_armed());
                            let listener = TcpListener::from_std(listener)?;
                            let stopped = async move {
                                let _ = stop.wait_for(|s| *s).await;
                            };
                            accept_loop(listener, (state, router), stopped, grace).await
                        })
                    });
                let _ = done_tx.send(result);
            })?;
    }
    drop(std_listener);
    shutdown.await;
    tracing::info!(
        grace_s = grace.as_secs_f64(),
        "shutting down: draining in-flight requests"
    );
    let _ = stop_tx.send(true);
    let mut result = Ok(());
    for rx in done {
        if let Ok(Err(err)) = rx.await {
            result = Err(err);
        }
    }
    result
}

/// How often [`keep_time_driver_armed`] wakes its thread.
const TIMER_TICK: Duration = Duration::from_millis(500);

/// Keeps one timer pending on this worker at all times, never more than [`TIMER_TICK`] away.
///
/// Why: tokio's time driver writes its runtime's eventfd (a syscall, and an extra trip through
/// `epoll_wait`) whenever a new timer is due earlier than every pending one — which, on an
/// idle worker, is every request's first timer (hyper's header-read timer, the deadline, the
/// body-idle timer). With this tick pending, per-request timers of a second or more are never
/// the earliest, so they register without a syscall. Costs two wake-ups a second per worker.
async fn keep_time_driver_armed() {
    loop {
        tokio::time::sleep(TIMER_TICK).await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    (state, router): (AppState, Router),
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // e.g. EMFILE: back off briefly instead of spinning.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let conn = http.serve_connection(
            TokioIo::new(stream),
            Gateway::for_connection(&state, &router),
        );
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!(%err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over; closing remaining connections");
    }
    Ok(())
}
