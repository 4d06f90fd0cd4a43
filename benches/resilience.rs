//! Per-call overhead of tidegate's resilience layers, side by side with `tower-resilience`
//! (circuit breaker, time limiter; pinned in the root Cargo.toml) and `tower::timeout`, in ONE
//! run. Every service wraps the same instantly-ready fake upstream, and every call is driven
//! the same way: `poll_ready`, `call`, then polls of the response future with a no-op waker
//! until it completes (one poll for everything except a contended async mutex). Requests are
//! built outside the timed section. What is left after subtracting the `baseline` row is the
//! layer's own cost.
//!
//! Run: `cargo bench --bench resilience` (about 2 s of measurement per row).

use std::{
    future::Future,
    hint::black_box,
    pin::pin,
    sync::Arc,
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use tidegate_core::{Body, Error, RequestContext, body};
use tidegate_layers::{
    breaker::{BreakerRegistry, BreakerSettings, CircuitBreakerLayer, FailureWindow},
    bulkhead::BulkheadLayer,
    idempotency::{IdempotencyLayer, IdempotencySettings},
    retry::{RetryLayer, RetrySettings},
    timeout::{AttemptTimeoutLayer, TimeoutLayer, TimeoutSettings},
};
use tower::{Layer, Service, ServiceBuilder, service_fn};

type Req = http::Request<Body>;

fn upstream() -> impl Service<
    Req,
    Response = http::Response<Body>,
    Error = Error,
    Future = impl Future<Output = Result<http::Response<Body>, Error>> + Send + 'static,
> + Clone
+ Send
+ 'static {
    service_fn(|_req: Req| async { Ok::<_, Error>(http::Response::new(body::empty())) })
}

/// Requests as they arrive in a connector stack: with their `RequestContext` (so every row
/// pays the same request drop, and extension inserts find the map already allocated).
fn get() -> Req {
    let mut req = http::Request::get("/v1/contacts")
        .body(body::empty())
        .unwrap();
    req.extensions_mut()
        .insert(RequestContext::new("bench").with_account("acc_1"));
    req
}

fn post() -> Req {
    let mut req = http::Request::post("/v1/contacts")
        .header("content-length", "2")
        .body(body::full("{}"))
        .unwrap();
    req.extensions_mut()
        .insert(RequestContext::new("bench").with_account("acc_1"));
    req
}

/// One call: readiness, call, and polls until done; returns the response status.
#[inline]
fn drive<S, E>(svc: &mut S, req: Req) -> u16
where
    S: Service<Req, Response = http::Response<Body>, Error = E>,
    E: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        match svc.poll_ready(&mut cx) {
            Poll::Ready(r) => {
                r.unwrap();
                break;
            }
            Poll::Pending => std::hint::spin_loop(),
        }
    }
    let mut fut = pin!(svc.call(req));
    loop {
        if let Poll::Ready(r) = fut.as_mut().poll(&mut cx) {
            return r.unwrap().status().as_u16();
        }
        std::hint::spin_loop();
    }
}

fn bench_one<S, E>(c: &mut Criterion, group: &str, name: &str, mut svc: S, make: fn() -> Req)
where
    S: Service<Req, Response = http::Response<Body>, Error = E>,
    E: std::fmt::Debug,
{
    let mut g = c.benchmark_group(group);
    // Requests are built outside the timed section: only the call is measured.
    g.bench_function(name, |b| {
        b.iter_batched(
            make,
            |req| black_box(drive(&mut svc, req)),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn our_breaker(
    window: bool,
) -> impl Service<Req, Response = http::Response<Body>, Error = Error> + Clone + Send + 'static {
    let settings = if window {
        BreakerSettings {
            consecutive_failures: None,
            failure_rate: Some(0.5),
            window: FailureWindow::Calls(100),
            min_calls: 100,
            ..BreakerSettings::default()
        }
    } else {
        BreakerSettings::default()
    };
    CircuitBreakerLayer::new(&BreakerRegistry::new(), "bench", settings).layer(upstream())
}

fn their_breaker()
-> impl Service<Req, Response = http::Response<Body>, Error: std::fmt::Debug> + Clone + Send + 'static
{
    tower_resilience::circuitbreaker::CircuitBreakerLayer::builder()
        .failure_rate_threshold(0.5)
        .sliding_window_size(100)
        .build()
        .unwrap()
        .layer(upstream())
}

fn full_stack() -> impl Service<Req, Response = http::Response<Body>, Error = Error> + Clone + Send
{
    ServiceBuilder::new()
        .layer(BulkheadLayer::new(1024))
        .layer(TimeoutLayer::new(TimeoutSettings::default()))
        .layer(IdempotencyLayer::new(IdempotencySettings {
            header: Some(http::HeaderName::from_static("idempotency-key")),
            ..IdempotencySettings::default()
        }))
        .layer(RetryLayer::new(RetrySettings::default()))
        .layer(CircuitBreakerLayer::new(
            &BreakerRegistry::new(),
            "bench",
            BreakerSettings::default(),
        ))
        .layer(AttemptTimeoutLayer::new(Duration::from_secs(5)))
        .service(upstream())
}

fn single_thread(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter(); // timers need a runtime handle; nothing is spawned

    bench_one(c, "baseline", "bare upstream GET", upstream(), get);
    bench_one(c, "baseline", "bare upstream POST", upstream(), post);

    bench_one(
        c,
        "breaker_closed",
        "tidegate consecutive",
        our_breaker(false),
        get,
    );
    bench_one(
        c,
        "breaker_closed",
        "tidegate rate window(100)",
        our_breaker(true),
        get,
    );
    bench_one(
        c,
        "breaker_closed",
        "tower-resilience 0.13.0",
        their_breaker(),
        get,
    );

    let total = Duration::from_secs(15);
    bench_one(
        c,
        "timeout",
        "tidegate total deadline",
        TimeoutLayer::new(TimeoutSettings {
            total,
            body_idle: None,
        })
        .layer(upstream()),
        get,
    );
    bench_one(
        c,
        "timeout",
        "tidegate total + body idle",
        TimeoutLayer::new(TimeoutSettings::default()).layer(upstream()),
        get,
    );
    bench_one(
        c,
        "timeout",
        "tidegate attempt",
        AttemptTimeoutLayer::new(total).layer(upstream()),
        get,
    );
    bench_one(
        c,
        "timeout",
        "tower::timeout",
        tower::timeout::TimeoutLayer::new(total).layer(upstream()),
        get,
    );
    bench_one(
        c,
        "timeout",
        "tower-resilience 0.13.0 time limiter",
        tower_resilience::timelimiter::TimeLimiterLayer::builder()
            .timeout_duration(total)
            .build()
            .layer(upstream()),
        get,
    );

    let retry = || RetryLayer::new(RetrySettings::default()).layer(upstream());
    bench_one(
        c,
        "retry_not_taken",
        "tidegate GET (replayable)",
        retry(),
        get,
    );
    bench_one(
        c,
        "retry_not_taken",
        "tidegate POST (not replayable)",
        retry(),
        post,
    );

    bench_one(c, "full_stack", "tidegate GET", full_stack(), get);
    bench_one(
        c,
        "full_stack",
        "tidegate POST (key injected)",
        full_stack(),
        post,
    );
}

/// Two threads hammering one breaker: wall time per call (request construction included,
/// identical for every row).
fn contended<S, E>(c: &mut Criterion, name: &str, svc: S)
where
    S: Service<Req, Response = http::Response<Body>, Error = E> + Clone + Send + 'static,
    E: std::fmt::Debug,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let handle = rt.handle().clone();
    let mut g = c.benchmark_group("breaker_closed_2_threads");
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let per_thread = iters.div_ceil(2);
            let start = Arc::new(std::sync::Barrier::new(3));
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let mut svc = svc.clone();
                    let start = Arc::clone(&start);
                    let handle = handle.clone();
                    std::thread::spawn(move || {
                        let _guard = handle.enter();
                        start.wait();
                        for _ in 0..per_thread {
                            // Built in the loop, so kept minimal: no context (whose request
                            // id would read the OS RNG on every call).
                            let req = http::Request::get("/v1/contacts")
                                .body(body::empty())
                                .unwrap();
                            black_box(drive(&mut svc, req));
                        }
                    })
                })
                .collect();
            start.wait();
            let began = Instant::now();
            for t in threads {
                t.join().unwrap();
            }
            began
                .elapsed()
                .mul_f64(iters as f64 / (2 * per_thread) as f64)
        })
    });
    g.finish();
}

fn two_threads(c: &mut Criterion) {
    contended(c, "tidegate consecutive", our_breaker(false));
    contended(c, "tidegate rate window(100)", our_breaker(true));
    contended(c, "tower-resilience 0.13.0", their_breaker());
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = single_thread, two_threads
}
criterion_main!(benches);
