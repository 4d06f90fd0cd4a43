//! The boundary-log layer's cost per exchange.
//!
//! `cargo bench --bench observe`
//!
//! Three services over the same no-op "HTTP client" (answers a small JSON body with rate-limit
//! headers at once): no layer (baseline), the layer with body sampling 0 and with sampling 1.0.
//! Lines go to the real sink (bounded channel + writer thread) writing to `io::sink()`, so the
//! numbers include redaction, serialization and the hand-off, not disk speed. Each iteration
//! sends a request through and reads the whole response body, as the gateway does.

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body_util::BodyExt;
use tidegate_core::{Body, Error, RequestContext, body};
use tidegate_observe::{BoundaryLogLayer, LogSink, Redactor, SinkTarget};
use tower::{Layer, Service, ServiceExt, util::BoxCloneService};

type Svc = BoxCloneService<Request<Body>, Response<Body>, Error>;

const RESPONSE: &str = r#"{"id":"003xx","name":"Acme","email":"ops@acme.example","items":[1,2,3]}"#;

fn upstream() -> Svc {
    BoxCloneService::new(tower::service_fn(|_req: Request<Body>| async {
        Ok::<_, Error>(
            Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .header("x-ratelimit-remaining", "99")
                .header("x-ratelimit-reset", "30")
                .header("x-request-id", "up-123")
                .body(body::full(RESPONSE))
                .expect("static response"),
        )
    }))
}

fn request() -> Request<Body> {
    let mut req = Request::builder()
        .method("GET")
        .uri("https://api.hubapi.com/crm/v3/objects/contacts/123?properties=email&access_token=abc")
        .header(
            "authorization",
            "Bearer pat-na1-00000000-0000-0000-0000-000000000000",
        )
        .header("accept", "application/json")
        .header("user-agent", "tidegate/0.1")
        .header("x-request-id", "req_987654321")
        .body(body::empty())
        .expect("static request");
    req.extensions_mut().insert(
        RequestContext::new("hubspot")
            .with_request_id("req_987654321")
            .with_environment("production")
            .with_account("acc_12345"),
    );
    req
}

fn logged(sink: &LogSink, rate: f64) -> Svc {
    let redactor = Redactor::new(
        ["authorization", "cookie"],
        ["email", "ssn", "phone", "password"],
    );
    let layer = BoundaryLogLayer::new(sink.clone(), redactor)
        .connector("hubspot")
        .sample_rate(rate)
        .upstream_request_id_header("x-request-id");
    BoxCloneService::new(layer.layer(upstream()))
}

async fn run(svc: &mut Svc, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        let resp = svc
            .ready()
            .await
            .expect("ready")
            .call(request())
            .await
            .expect("ok");
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        black_box(bytes);
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (sink, worker) =
        LogSink::start(SinkTarget::Writer(Box::new(std::io::sink())), 65_536).expect("sink");

    let mut group = c.benchmark_group("boundary_log");
    let mut baseline = upstream();
    group.bench_function("no_layer", |b| {
        b.iter_custom(|iters| rt.block_on(run(&mut baseline, iters)));
    });
    let mut sampled_0 = logged(&sink, 0.0);
    group.bench_function("sampling_0", |b| {
        b.iter_custom(|iters| rt.block_on(run(&mut sampled_0, iters)));
    });
    let mut sampled_1 = logged(&sink, 1.0);
    group.bench_function("sampling_1", |b| {
        b.iter_custom(|iters| rt.block_on(run(&mut sampled_1, iters)));
    });
    group.finish();

    drop((sampled_0, sampled_1));
    let dropped = sink.dropped();
    drop(sink);
    worker.join().expect("writer");
    eprintln!("boundary_log: lines dropped by a full channel during the run: {dropped}");
}

criterion_group!(benches, bench);
criterion_main!(benches);
