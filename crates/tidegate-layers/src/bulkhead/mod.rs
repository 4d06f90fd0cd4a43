//! A per-connector concurrency limit that sheds load instead of queueing.
//!
//! ```
//! use tidegate_core::{Body, Error, ErrorCode, body};
//! use tidegate_layers::bulkhead::BulkheadLayer;
//! use tower::{Layer, Service, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let upstream = service_fn(|_req: http::Request<Body>| async {
//!     Ok::<_, Error>(http::Response::new(body::full("streamed")))
//! });
//! let mut svc = BulkheadLayer::new(1).layer(upstream);
//! let held = svc.ready().await.unwrap().call(http::Request::new(body::empty())).await.unwrap();
//! // The first response's body is still streaming: the slot is taken, so the next call is shed.
//! let err = svc.ready().await.unwrap().call(http::Request::new(body::empty())).await.unwrap_err();
//! assert_eq!(err.code(), ErrorCode::Overloaded);
//! drop(held); // body done: the slot is free again
//! assert!(svc.oneshot(http::Request::new(body::empty())).await.is_ok());
//! # }
//! ```
//!
//! A call holds its slot until its response body ends (or is dropped), because a streaming
//! response keeps the upstream busy just like a pending one. Over the limit a call fails at
//! once with `overloaded` (503): no queue, so a slow upstream cannot pile up unbounded work
//! and memory in the gateway. The counter is a single atomic; no lock, no semaphore queue.

mod body;
mod future;
mod service;
#[cfg(test)]
mod tests;

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use tower::Layer;

pub use body::GuardedBody;
pub use future::ResponseFuture;
pub use service::Bulkhead;

/// Slots in use, shared by every clone of a connector's bulkhead.
#[derive(Debug)]
pub(crate) struct Slots {
    in_use: AtomicUsize,
    limit: usize,
}

/// One occupied slot; freed on drop.
#[derive(Debug)]
pub struct SlotGuard(Arc<Slots>);

impl Slots {
    fn try_take(self: &Arc<Self>) -> Option<SlotGuard> {
        let mut current = self.in_use.load(Ordering::Relaxed);
        loop {
            if current >= self.limit {
                return None;
            }
            match self.in_use.compare_exchange_weak(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(SlotGuard(Arc::clone(self))),
                Err(actual) => current = actual,
            }
        }
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.in_use.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Limits a connector to `max_concurrent` calls in flight. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct BulkheadLayer {
    slots: Arc<Slots>,
}

impl BulkheadLayer {
    /// A limit of `max_concurrent` (at least 1). Clones share the limit.
    pub fn new(max_concurrent: usize) -> Self {
        Self {
            slots: Arc::new(Slots {
                in_use: AtomicUsize::new(0),
                limit: max_concurrent.max(1),
            }),
        }
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> usize {
        self.slots.in_use.load(Ordering::Relaxed)
    }
}

impl<S> Layer<S> for BulkheadLayer {
    type Service = Bulkhead<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Bulkhead::new(inner, Arc::clone(&self.slots))
    }
}
