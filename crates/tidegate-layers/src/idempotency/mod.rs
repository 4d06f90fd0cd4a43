//! Idempotency keys on writes: forwarded under the provider's header, or generated.
//!
//! ```
//! use http::HeaderName;
//! use tidegate_core::{Body, Error, body};
//! use tidegate_layers::idempotency::{IdempotencyKey, IdempotencyLayer, IdempotencySettings};
//! use tower::{Layer, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let settings = IdempotencySettings {
//!     header: Some(HeaderName::from_static("paypal-request-id")),
//!     ..IdempotencySettings::default()
//! };
//! let upstream = service_fn(|req: http::Request<Body>| async move {
//!     // The caller's Idempotency-Key arrives renamed to the provider's header.
//!     assert_eq!(req.headers()["paypal-request-id"], "order-42");
//!     assert!(req.headers().get("idempotency-key").is_none());
//!     assert_eq!(req.extensions().get::<IdempotencyKey>().unwrap().as_str(), "order-42");
//!     Ok::<_, Error>(http::Response::new(body::empty()))
//! });
//! let svc = IdempotencyLayer::new(settings).layer(upstream);
//! let req = http::Request::post("/v2/checkout/orders")
//!     .header("idempotency-key", "order-42")
//!     .body(body::empty())
//!     .unwrap();
//! svc.oneshot(req).await.unwrap();
//! # }
//! ```
//!
//! For the configured `methods` (POST and PATCH by default) a request without a key gets a
//! fresh UUIDv7. A caller's key (the gateway passes the caller's `Idempotency-Key`; an
//! in-process caller may also set the provider's header directly) is forwarded unchanged,
//! renamed to the provider's header (`Idempotency-Key`, `PayPal-Request-Id`,
//! `Chargebee-Idempotency-Key`, ...). A key written as a structured-field string (`"abc"`, as
//! the IETF draft has it) is sent in the raw form providers expect (`abc`).
//!
//! The key is also put in an [`IdempotencyKey`] extension: the boundary log records it, and
//! retry reads it to know that replaying a write is safe. This layer therefore sits OUTSIDE
//! retry: the key is fixed once per call, and every attempt carries the same one — a key per
//! attempt would make the provider execute the write again.
//!
//! A provider without idempotency support (`header = None`) gets no key header at all (a
//! caller's is removed), no extension is set, and so its writes are never retried.

mod service;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use http::{HeaderName, Method};
use tower::Layer;

pub use service::Idempotency;

/// The idempotency key of a call, in the request extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(pub Arc<str>);

impl IdempotencyKey {
    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Settings of [`IdempotencyLayer`]. `Default`: no provider support, methods POST and PATCH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencySettings {
    /// The provider's header (`None`: the provider has no idempotency support).
    pub header: Option<HeaderName>,
    /// Methods that get a generated key when the caller sent none.
    pub methods: Vec<Method>,
    /// The header callers send their key in.
    pub caller_header: HeaderName,
}

impl Default for IdempotencySettings {
    fn default() -> Self {
        Self {
            header: None,
            methods: vec![Method::POST, Method::PATCH],
            caller_header: HeaderName::from_static("idempotency-key"),
        }
    }
}

/// Forwards or injects idempotency keys. See the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct IdempotencyLayer {
    settings: Arc<IdempotencySettings>,
}

impl IdempotencyLayer {
    /// A layer with these settings.
    pub fn new(settings: IdempotencySettings) -> Self {
        Self {
            settings: Arc::new(settings),
        }
    }
}

impl<S> Layer<S> for IdempotencyLayer {
    type Service = Idempotency<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Idempotency::new(inner, Arc::clone(&self.settings))
    }
}
