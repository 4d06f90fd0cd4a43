//! Starting a gateway and a sandbox, and talking to them.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use tidegate_core::Body;
use tidegate_sandbox::{Sandbox, SandboxHandle};

pub const API_KEY: &str = "test-env-key-0123456789";
pub const ADMIN_KEY: &str = "test-admin-key-9876543210";

/// A running gateway; dropping it without `stop` leaves the task to the runtime's end.
pub struct Gateway {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Gateway {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Triggers graceful shutdown (the task ends once in-flight requests are done).
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A config with environment `test` (key [`API_KEY`]), admin key [`ADMIN_KEY`], connector
/// `crm` (auth none) and connector `secure` (api_key auth) both pointing at `upstream`,
/// plus `extra` appended.
pub fn config_toml(upstream: &str, extra: &str) -> String {
    format!(
        r#"
[server]
admin_key = "{ADMIN_KEY}"
max_request_body = "1MiB"
shutdown_grace = "10s"

[environments.test]
api_keys = ["{API_KEY}"]

[environments.other]
api_keys = ["other-env-key"]

[connectors.crm]
base_url = "{upstream}"
auth = {{ type = "none" }}

[connectors.secure]
base_url = "{upstream}"
auth = {{ type = "api_key", header = "X-Api-Key" }}
{extra}
"#
    )
}

pub fn config(toml: &str) -> tidegate_config::Config {
    tidegate_config::Config::from_str(toml, std::path::Path::new("e2e.toml"), &|_| None)
        .unwrap_or_else(|e| panic!("test config invalid:\n{e}"))
}

pub async fn start_gateway(toml: &str) -> Gateway {
    serve(tidegate_gateway::App::from_config(config(toml)).expect("app builds")).await
}

/// A gateway for `toml` whose stacks write their boundary log to `target` (sampling from the
/// config's `[logging]`).
pub async fn start_logged_gateway(toml: &str, target: tidegate_observe::SinkTarget) -> Gateway {
    let config = config(toml);
    let (logging, _writer) = tidegate_observe::BoundaryLogging::start(
        target,
        tidegate_observe::Redactor::new(
            &config.logging.redact_headers,
            &config.logging.redact_fields,
        ),
        config.logging.body_sample_rate,
    )
    .expect("the log sink starts");
    let app = tidegate_gateway::App::builder(config)
        .shared(tidegate_stack::Shared {
            boundary_log: Some(logging),
            ..Default::default()
        })
        .build()
        .expect("app builds");
    serve(app).await
}

/// Serves `app` on a free loopback port.
async fn serve(app: tidegate_gateway::App) -> Gateway {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.serve(listener, async {
        let _ = stopped.await;
    }));
    Gateway {
        addr,
        stop: Some(stop),
        task,
    }
}

/// Sandbox + gateway in front of it.
pub async fn start() -> (SandboxHandle, Gateway) {
    let sandbox = Sandbox::start().await.unwrap();
    let gateway = start_gateway(&config_toml(&sandbox.base_url(), "")).await;
    (sandbox, gateway)
}

pub fn client() -> Client<HttpConnector, Body> {
    Client::builder(TokioExecutor::new()).build_http()
}

pub async fn send(req: Request<Body>) -> Response<Incoming> {
    client().request(req).await.expect("the gateway answers")
}

/// A GET with the test api key.
pub fn get(url: &str) -> http::request::Builder {
    Request::get(url).header("authorization", format!("Bearer {API_KEY}"))
}

pub async fn json(resp: Response<Incoming>) -> serde_json::Value {
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
}

/// Asserts a problem+json answer with `status` and `code`; returns the body.
pub async fn expect_problem(
    resp: Response<Incoming>,
    status: u16,
    code: &str,
) -> serde_json::Value {
    assert_eq!(resp.status(), status, "status");
    assert_eq!(
        resp.headers()["content-type"],
        "application/problem+json",
        "content type"
    );
    assert!(
        resp.headers().contains_key("x-request-id"),
        "problems carry X-Request-Id"
    );
    let header_id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body = json(resp).await;
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(
        body["type"],
        format!("https://tidegate.dev/problems/{code}")
    );
    if let Some(id) = body["request_id"].as_str() {
        assert_eq!(id, header_id);
    }
    body
}

pub fn empty() -> Body {
    tidegate_core::body::empty()
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    tidegate_core::body::full(bytes)
}
