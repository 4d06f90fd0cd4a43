//! [`BoundaryLogging`]: what every connector's boundary-log layer shares (started once).

use std::io;

use super::BoundaryLogLayer;
use crate::{
    redact::Redactor,
    sink::{DEFAULT_CAPACITY, LogSink, SinkTarget, SinkWorker},
};

/// The process-wide part of boundary logging: the sink, the redactor built from
/// `logging.redact_headers` / `logging.redact_fields`, and `logging.body_sample_rate`.
#[derive(Clone, Debug)]
pub struct BoundaryLogging {
    /// Where lines go.
    pub sink: LogSink,
    /// The shared redactor (connectors add their own credential header / query names).
    pub redactor: Redactor,
    /// Share (0..=1) of exchanges whose bodies are logged.
    pub sample_rate: f64,
}

impl BoundaryLogging {
    /// Starts the sink for `target` (a file is opened, rotated and retained before this
    /// returns). Keep the [`SinkWorker`] to wait for the last lines at shutdown, or drop it to
    /// let the writer run detached.
    pub fn start(
        target: SinkTarget,
        redactor: Redactor,
        sample_rate: f64,
    ) -> io::Result<(BoundaryLogging, SinkWorker)> {
        let (sink, worker) = LogSink::start(target, DEFAULT_CAPACITY)?;
        Ok((
            BoundaryLogging {
                sink,
                redactor,
                sample_rate,
            },
            worker,
        ))
    }

    /// A layer for `connector` with the shared sink, redactor and sample rate; the caller adds
    /// the connector's own settings (body mode, request-id header, readers).
    pub fn layer(&self, connector: &str) -> BoundaryLogLayer {
        BoundaryLogLayer::new(self.sink.clone(), self.redactor.clone())
            .connector(connector)
            .sample_rate(self.sample_rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{Layer, Service, ServiceExt};

    #[tokio::test]
    async fn layers_share_the_sink_and_sample_rate() {
        let (sink, mut rx) = LogSink::channel(8);
        let logging = BoundaryLogging {
            sink,
            redactor: Redactor::default(),
            sample_rate: 1.0,
        };
        let upstream = tower::service_fn(|_req: http::Request<tidegate_core::Body>| async {
            Ok::<_, tidegate_core::Error>(
                http::Response::builder()
                    .header("content-type", "application/json")
                    .body(tidegate_core::body::full(r#"{"ok":true}"#))
                    .unwrap(),
            )
        });
        let mut svc = logging.layer("crm").layer(upstream);
        let resp = svc
            .ready()
            .await
            .unwrap()
            .call(http::Request::new(tidegate_core::body::empty()))
            .await
            .unwrap();
        let _ = http_body_util::BodyExt::collect(resp.into_body()).await;
        let line: serde_json::Value = serde_json::from_slice(&rx.recv().await.unwrap()).unwrap();
        assert_eq!(line["connector"], "crm");
        assert_eq!(line["response"]["body"], serde_json::json!({"ok": true}));
    }
}
