//! The boundary-log layer: one redacted JSON line per upstream exchange (CONTRACT §6).
//!
//! # Example
//!
//! ```
//! use tidegate_observe::{boundary::BoundaryLogLayer, redact::{BodyMode, Redactor}, sink::LogSink};
//! use tower::{ServiceBuilder, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let (sink, mut lines) = LogSink::channel(1024);
//! let redactor = Redactor::new(["x-vendor-key"], ["email", "ssn"]);
//! let client = service_fn(|_req: http::Request<tidegate_core::Body>| async {
//!     Ok::<_, tidegate_core::Error>(http::Response::new(tidegate_core::body::empty()))
//! });
//! let mut svc = ServiceBuilder::new()
//!     .layer(
//!         BoundaryLogLayer::new(sink, redactor)
//!             .connector("hubspot")
//!             .sample_rate(0.0)
//!             .body_mode(BodyMode::Redacted)
//!             .upstream_request_id_header("x-hubspot-correlation-id"),
//!     )
//!     .service(client);
//! let req = http::Request::get("https://api.hubapi.com/x?access_token=t")
//!     .body(tidegate_core::body::empty())
//!     .unwrap();
//! use tower::{Service, ServiceExt};
//! svc.ready().await.unwrap().call(req).await.unwrap();
//! let line = lines.recv().await.unwrap();
//! let record: serde_json::Value = serde_json::from_slice(&line).unwrap();
//! assert_eq!(record["request"]["url"], "https://api.hubapi.com/x?access_token=[REDACTED]");
//! assert_eq!(record["outcome"], "ok");
//! # }
//! ```
//!
//! # Where it sits
//!
//! Just outside the HTTP client: inside retry (so each attempt is its own line, with
//! `attempt`), inside idempotency (so the key sent is logged) and inside credential injection
//! (so the line shows the request as actually sent, with the injected `Authorization`
//! redacted). The response is logged as received, before error and rate-limit normalization.
//!
//! # What it costs a request
//!
//! Redacting the request line and headers and formatting one JSON line, on the request's task;
//! the write happens on the sink's thread. When a body is needed (sampled, or an error
//! response), the response body is wrapped: frames pass through unchanged and at most
//! [`MAX_CAPTURE`](crate::redact::MAX_CAPTURE) bytes are copied aside; the line is emitted when
//! the body ends or is dropped. Otherwise the line is emitted as soon as the headers arrive.

mod body;
mod future;
mod json;
mod layer;
mod line;
pub mod record;
mod service;
mod setup;
mod timestamp;
mod url;

pub use future::ResponseFuture;
pub use layer::{AttemptReader, BoundaryLogLayer, IdempotencyKeyReader, UrlResolver};
pub use record::{BoundaryRecord, ErrorRecord, RequestRecord, ResponseRecord};
pub use service::BoundaryLog;
pub use setup::BoundaryLogging;
pub use url::UrlBase;
