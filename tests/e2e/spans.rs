//! `tracing` spans at the gateway (issue: traces per request and per attempt): every proxied
//! request runs in a `tidegate.request` span, and each upstream attempt in a
//! `tidegate.upstream_attempt` span inside it, both carrying the request id and nothing secret.

use std::sync::{Arc, Mutex};

use tidegate_observe::SinkTarget;
use tidegate_sandbox::Sandbox;
use tracing::{
    Subscriber,
    field::{Field, Visit},
    span::{Attributes, Id},
};
use tracing_subscriber::{Layer, layer::Context, prelude::*, registry::LookupSpan};

use crate::support::*;

/// Records every new span as `name parent=<parent name> field=value ...`.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={:?}", field.name(), value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push_str(&format!(" {}={value}", field.name()));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let parent = ctx
            .span(id)
            .and_then(|span| span.parent())
            .map(|p| p.name().to_owned())
            .unwrap_or_default();
        let mut fields = Fields(String::new());
        attrs.record(&mut fields);
        self.0.lock().unwrap().push(format!(
            "{} parent={parent}{}",
            attrs.metadata().name(),
            fields.0
        ));
    }
}

#[tokio::test]
async fn a_proxied_request_runs_in_a_request_span_holding_its_attempt_spans() {
    // One process per test under nextest, so the global subscriber is this test's own (the
    // gateway's server threads do not see a thread-local default).
    let recorder = Recorder::default();
    tracing_subscriber::registry().with(recorder.clone()).init();

    let sandbox = Sandbox::start().await.unwrap();
    let mut gateway = start_logged_gateway(
        &config_toml(&sandbox.base_url(), ""),
        SinkTarget::Writer(Box::new(std::io::sink())),
    )
    .await;
    let addr = gateway.addr;

    let resp = send(
        get(&format!("http://{addr}/proxy/crm/status/200"))
            .header("x-request-id", "trace-req-0001")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(resp.status(), 200);

    let spans = recorder.0.lock().unwrap().clone();
    let request: Vec<_> = spans
        .iter()
        .filter(|s| s.starts_with("tidegate.request "))
        .collect();
    let attempts: Vec<_> = spans
        .iter()
        .filter(|s| s.starts_with("tidegate.upstream_attempt "))
        .collect();
    assert_eq!(request.len(), 1, "{spans:#?}");
    assert!(
        request[0].contains("request_id=trace-req-0001"),
        "{spans:#?}"
    );
    assert!(request[0].contains("connector=crm"), "{spans:#?}");
    assert!(request[0].contains("environment=test"), "{spans:#?}");
    assert_eq!(attempts.len(), 1, "{spans:#?}");
    assert!(
        attempts[0].starts_with("tidegate.upstream_attempt parent=tidegate.request "),
        "the attempt span is a child of the request span: {spans:#?}"
    );
    assert!(
        attempts[0].contains("request_id=trace-req-0001"),
        "{spans:#?}"
    );
    assert!(attempts[0].contains("attempt=1"), "{spans:#?}");
    // Nothing but the closed set of fields (no header, URL, credential or body).
    assert!(
        spans
            .iter()
            .all(|s| !s.contains(API_KEY) && !s.contains("authorization")),
        "{spans:#?}"
    );

    gateway.begin_shutdown();
    let _ = gateway.task.await;
}
