//! The outermost slot of every connector stack: make sure the request carries a
//! [`RequestContext`].
//!
//! Requests from the gateway already have one (request id, environment, account); requests
//! from an in-process caller (`stacks.client("hubspot")`) get a fresh one with a UUIDv7
//! request id, so every inner layer (logs, problems, metrics) can rely on it.
//!
//! ```
//! use tidegate_stack::context::EnsureContextLayer;
//! use tower::{ServiceBuilder, service_fn};
//! use tidegate_core::RequestContext;
//!
//! let svc = ServiceBuilder::new()
//!     .layer(EnsureContextLayer::new("hubspot"))
//!     .service(service_fn(|req: http::Request<()>| async move {
//!         let ctx = RequestContext::of(&req).expect("the layer inserted one");
//!         Ok::<_, std::convert::Infallible>(ctx.connector.to_string())
//!     }));
//! # let _ = svc;
//! ```

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use tidegate_core::RequestContext;
use tower::{Layer, Service};

/// Layer inserting a [`RequestContext`] for `connector` when a request has none.
#[derive(Clone, Debug)]
pub struct EnsureContextLayer {
    connector: Arc<str>,
}

impl EnsureContextLayer {
    /// For requests to `connector`.
    pub fn new(connector: impl Into<Arc<str>>) -> Self {
        Self {
            connector: connector.into(),
        }
    }
}

impl<S> Layer<S> for EnsureContextLayer {
    type Service = EnsureContext<S>;

    fn layer(&self, inner: S) -> Self::Service {
        EnsureContext {
            inner,
            connector: self.connector.clone(),
        }
    }
}

/// Service of [`EnsureContextLayer`].
#[derive(Clone, Debug)]
pub struct EnsureContext<S> {
    inner: S,
    connector: Arc<str>,
}

impl<S, B> Service<http::Request<B>> for EnsureContext<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> S::Future {
        if RequestContext::of(&req).is_none() {
            let ctx = RequestContext {
                request_id: tidegate_core::context::new_request_id().into(),
                connector: self.connector.clone(),
                environment: None,
                account_id: None,
            };
            req.extensions_mut().insert(ctx);
        }
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{ServiceExt, service_fn};

    #[tokio::test]
    async fn inserts_when_missing_and_keeps_existing() {
        let svc = EnsureContextLayer::new("hubspot").layer(service_fn(
            |req: http::Request<()>| async move {
                Ok::<_, std::convert::Infallible>(RequestContext::of(&req).cloned().unwrap())
            },
        ));
        let fresh = svc.clone().oneshot(http::Request::new(())).await.unwrap();
        assert_eq!(&*fresh.connector, "hubspot");
        assert!(tidegate_core::context::is_valid_request_id(
            fresh.request_id.as_bytes()
        ));

        let mut req = http::Request::new(());
        req.extensions_mut()
            .insert(RequestContext::new("hubspot").with_request_id("mine"));
        assert_eq!(&*svc.oneshot(req).await.unwrap().request_id, "mine");
    }
}
