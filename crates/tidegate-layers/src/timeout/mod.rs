//! Timeouts: a total deadline per call, a per-attempt timeout, and an idle timeout for a
//! streaming response body.
//!
//! ```
//! use std::time::Duration;
//! use tidegate_core::{Body, Error, body};
//! use tidegate_layers::timeout::{AttemptTimeoutLayer, Deadline, TimeoutLayer, TimeoutSettings};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let settings = TimeoutSettings {
//!     total: Duration::from_secs(15),
//!     body_idle: Some(Duration::from_secs(30)),
//! };
//! let stack = ServiceBuilder::new()
//!     .layer(TimeoutLayer::new(settings))
//!     .layer(AttemptTimeoutLayer::new(Duration::from_secs(5)))
//!     .service(service_fn(|req: http::Request<Body>| async move {
//!         // Inner layers see the whole call's deadline (retry never sleeps past it).
//!         assert!(req.extensions().get::<Deadline>().is_some());
//!         Ok::<_, Error>(http::Response::new(body::full("hi")))
//!     }));
//! let response = stack.oneshot(http::Request::new(body::empty())).await.unwrap();
//! assert_eq!(response.status(), 200);
//! # }
//! ```
//!
//! The total deadline ([`TimeoutLayer`]) covers everything until the response *headers*
//! arrive: retries, backoff sleeps, token refreshes. It is published to inner layers as a
//! [`Deadline`] request extension so that retry can stop instead of sleeping past it. Once the
//! headers are in, a streaming body may legitimately take minutes, so the body is not held to
//! the deadline; instead, when `body_idle` is set, a body that sends nothing for that long is
//! cut: it yields an `upstream_timeout` error and a `tracing` warning is logged.
//!
//! [`AttemptTimeoutLayer`] bounds one attempt (it sits inside retry), never beyond the
//! [`Deadline`]. Both expire with [`ErrorCode::UpstreamTimeout`](tidegate_core::ErrorCode),
//! which the gateway answers as a 504 problem.

mod body;
mod future;
mod layer;
mod service;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use body::IdleTimeoutBody;
pub use future::{AttemptResponseFuture, ResponseFuture};
pub use layer::{AttemptTimeoutLayer, TimeoutLayer};
pub use service::{AttemptTimeout, Timeout};

/// The instant by which the whole call must have its response headers. Inserted into the
/// request extensions by [`TimeoutLayer`] (an outer, earlier deadline is kept), read by retry
/// and by [`AttemptTimeout`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(pub tokio::time::Instant);

impl Deadline {
    /// The deadline of `req`, if a [`TimeoutLayer`] set one.
    pub fn of<B>(req: &http::Request<B>) -> Option<tokio::time::Instant> {
        req.extensions().get::<Deadline>().map(|d| d.0)
    }
}

/// Settings of [`TimeoutLayer`]. `Default` matches the config defaults (`timeout = "15s"`,
/// `body_idle_timeout = "30s"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeoutSettings {
    /// Deadline for the response headers of the whole call, retries included.
    pub total: Duration,
    /// Longest silence allowed between two frames of the response body (`None`: unbounded).
    pub body_idle: Option<Duration>,
}

impl Default for TimeoutSettings {
    fn default() -> Self {
        Self {
            total: Duration::from_secs(15),
            body_idle: Some(Duration::from_secs(30)),
        }
    }
}
