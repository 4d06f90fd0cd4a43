//! Boundary-log wiring: the sink started from `[logging]`, and each connector's layer
//! configured from its own settings. The layer itself is `tidegate_observe::boundary`.
//!
//! The layer sits just outside the HTTP client (slot 11b of [`build_connector_stack`]):
//! inside retry (one line per attempt, with `attempt` from the retry layer's [`Attempt`]),
//! inside idempotency (the key sent, from [`IdempotencyKey`]) and inside credential injection
//! (the injected `Authorization` shows up redacted).
//!
//! [`build_connector_stack`]: crate::build_connector_stack
//! [`Attempt`]: tidegate_layers::retry::Attempt
//! [`IdempotencyKey`]: tidegate_layers::idempotency::IdempotencyKey

use std::{io, sync::Arc, time::SystemTime};

use tidegate_config::{AuthConfig, BodyLogging, ConnectorConfig, LoggingConfig};
use tidegate_layers::{idempotency::IdempotencyKey, retry::Attempt};
use tidegate_observe::{
    BodyMode, BoundaryLogLayer, BoundaryLogging, Redactor, SinkTarget, SinkWorker,
    ratelimit::RateLimitFigures,
};
use tidegate_upstream::{
    RateLimitSettings,
    ratelimit::{AlreadyRead, most_restrictive},
};

use crate::UpstreamBase;

/// Starts the boundary-log sink of `[logging]`: stdout, or the daily-rotated `file` with
/// `retention` applied now and at each rotation.
pub fn start(logging: &LoggingConfig) -> io::Result<(BoundaryLogging, SinkWorker)> {
    BoundaryLogging::start(
        SinkTarget::from_logging(logging.file.clone(), logging.retention),
        Redactor::new(&logging.redact_headers, &logging.redact_fields),
        logging.body_sample_rate,
    )
}

/// The boundary-log layer of connector `name`.
pub fn layer(
    logging: &BoundaryLogging,
    name: &str,
    cfg: &ConnectorConfig,
    base: &UpstreamBase,
    rate_limit: Arc<RateLimitSettings>,
) -> BoundaryLogLayer {
    let mut redactor = logging.redactor.clone();
    if let AuthConfig::ApiKey(key) = &cfg.auth {
        redactor = redactor
            .with_headers(key.header.iter())
            .with_query_params(key.query.iter());
    }
    let body_mode = match cfg.logging.as_ref() {
        Some(l) => match l.body {
            Some(BodyLogging::Allowlist) => BodyMode::Allowlist(l.fields.clone()),
            Some(BodyLogging::None) => BodyMode::None,
            Some(BodyLogging::Redacted) | None => BodyMode::Redacted,
        },
        None => BodyMode::Redacted,
    };
    let mut layer = BoundaryLogLayer::new(logging.sink.clone(), redactor)
        .connector(name)
        .sample_rate(logging.sample_rate)
        .body_mode(body_mode)
        .idempotency_header(
            cfg.idempotency
                .as_ref()
                .and_then(|i| i.header.as_deref())
                .or(Some("idempotency-key")),
        )
        .attempt_from(|ext| ext.get::<Attempt>().map(|a| a.0))
        .idempotency_key_from(|ext| ext.get::<IdempotencyKey>().map(|k| k.0.to_string()))
        .url_base(&base.log_url_base())
        .rate_limit_reader(Arc::new(move |response| {
            let info = rate_limit.extract(response.headers(), SystemTime::now());
            let most = most_restrictive(&info.limits);
            let figures = RateLimitFigures {
                remaining: most.map(|l| l.remaining),
                reset_secs: most.and_then(|l| l.effective_reset()).or(info.retry_after),
            };
            // The normalization layer further out reads the same headers with the same
            // settings: it takes this instead (HubSpot-style headers cost ~2,000 instructions
            // to read).
            if !info.is_empty() {
                response
                    .extensions_mut()
                    .insert(AlreadyRead::new(&rate_limit, info));
            }
            figures
        }));
    if let Some(header) = cfg
        .request_id_header
        .as_deref()
        .filter(|h| http::HeaderName::try_from(*h).is_ok())
    {
        layer = layer.upstream_request_id_header(header);
    }
    layer
}

#[cfg(test)]
mod tests {
    use std::{
        path::Path,
        sync::atomic::{AtomicUsize, Ordering},
    };

    use http_body_util::BodyExt;
    use tidegate_config::Config;
    use tidegate_observe::LogSink;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tower::ServiceExt;

    use super::*;
    use crate::{Shared, Stacks};

    /// A one-request-per-connection HTTP/1.1 upstream: 503 first, then 200 with rate limits.
    async fn upstream() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = Arc::new(AtomicUsize::new(0));
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let n = served.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => buf.extend_from_slice(&chunk[..k]),
                        }
                    }
                    let response = if n == 0 {
                        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{\"e\":\"x\"}\r\n".to_owned()
                    } else {
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nx-upstream-id: up-42\r\nx-ratelimit-remaining: 7\r\nx-ratelimit-reset: 30\r\nconnection: close\r\n\r\n{}".to_owned()
                    };
                    let _ = conn.write_all(response.as_bytes()).await;
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn each_attempt_is_logged_as_sent_with_its_attempt_number() {
        let port = upstream().await;
        let src = format!(
            "[server]\n\n[environments.production]\napi_keys = [\"key-1\"]\n\n[connectors.crm]\n\
             base_url = \"http://127.0.0.1:{port}/v1\"\nauth = {{ type = \"none\" }}\n\
             request_id_header = \"x-upstream-id\"\n\
             retry = {{ max_attempts = 2, on = [\"503\"], backoff_base = \"1ms\", backoff_max = \"2ms\" }}\n"
        );
        let config = Config::from_str(&src, Path::new("test.toml"), &|_| None)
            .unwrap_or_else(|e| panic!("{e}"));
        let (sink, mut lines) = LogSink::channel(16);
        let shared = Shared {
            boundary_log: Some(BoundaryLogging {
                sink,
                redactor: Redactor::new(
                    &config.logging.redact_headers,
                    &config.logging.redact_fields,
                ),
                sample_rate: 0.0,
            }),
            ..Shared::default()
        };
        let stacks = Stacks::with_shared(&config, shared).unwrap();
        let req = http::Request::get("/contacts?access_token=t0ps3cret&limit=1")
            .body(tidegate_core::body::empty())
            .unwrap();
        let resp = stacks.client("crm").unwrap().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let _ = resp.into_body().collect().await;

        let first: serde_json::Value =
            serde_json::from_slice(&lines.recv().await.unwrap()).unwrap();
        let second: serde_json::Value =
            serde_json::from_slice(&lines.recv().await.unwrap()).unwrap();
        assert_eq!(first["attempt"], 1);
        assert_eq!(first["response"]["status"], 503);
        assert_eq!(first["outcome"], "upstream_server_error");
        // The retry layer drops the 503 unread; its body is logged when hyper had it buffered
        // (nearly always on loopback), else as its shape. Never anything else.
        let body = &first["response"]["body"];
        assert!(
            *body == serde_json::json!({"e": "x"}) || body["truncated"] == true,
            "{body}"
        );
        assert_eq!(second["attempt"], 2);
        assert_eq!(second["outcome"], "ok");
        assert_eq!(second["connector"], "crm");
        assert_eq!(
            second["request"]["url"],
            format!("http://127.0.0.1:{port}/v1/contacts?access_token=[REDACTED]&limit=1")
        );
        assert_eq!(second["response"]["upstream_request_id"], "up-42");
        assert_eq!(second["response"]["ratelimit_remaining"], 7);
        assert_eq!(second["response"]["ratelimit_reset"], 30);
        assert_eq!(first["request_id"], second["request_id"]);
    }
}
