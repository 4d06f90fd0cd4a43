//! Upstream-attempt metrics as their own layer (`tidegate_upstream_requests_total`,
//! `tidegate_upstream_request_duration_seconds`, `tidegate_rate_limited_total`).
//!
//! Kept apart from the boundary log on purpose: a stack without a boundary log (an in-process
//! user who logs elsewhere) still counts its upstream exchanges, and measuring the log's cost
//! compares the log alone. It sits at the same place in the stack as the log (one record per
//! attempt, as sent and as received, before normalization).
//!
//! ```
//! use tidegate_observe::attempt_metrics::AttemptMetricsLayer;
//! let layer = AttemptMetricsLayer::new("hubspot");
//! # let _ = layer;
//! ```

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tidegate_core::{Body, Error, ErrorCode};
use tokio::time::Instant;
use tower::{Layer, Service};

use crate::metrics::UpstreamMetrics;

/// Records one metric sample per upstream attempt of connector `name`.
#[derive(Clone, Debug)]
pub struct AttemptMetricsLayer {
    metrics: Arc<UpstreamMetrics>,
}

impl AttemptMetricsLayer {
    /// The layer for `connector` (its series are resolved once, on first use).
    pub fn new(connector: &str) -> Self {
        Self {
            metrics: Arc::new(UpstreamMetrics::new(connector)),
        }
    }
}

impl<S> Layer<S> for AttemptMetricsLayer {
    type Service = AttemptMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AttemptMetrics {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service of [`AttemptMetricsLayer`].
#[derive(Clone, Debug)]
pub struct AttemptMetrics<S> {
    inner: S,
    metrics: Arc<UpstreamMetrics>,
}

impl<S> Service<Request<Body>> for AttemptMetrics<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Error>,
{
    type Response = Response<Body>;
    type Error = Error;
    type Future = AttemptMetricsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        AttemptMetricsFuture {
            inner: self.inner.call(req),
            pending: Pending {
                metrics: Some(self.metrics.clone()),
                started: Instant::now(),
            },
        }
    }
}

pin_project! {
    /// The response future of [`AttemptMetrics`].
    pub struct AttemptMetricsFuture<F> {
        #[pin]
        inner: F,
        pending: Pending,
    }
}

/// The sample still to record; an attempt dropped before it ended (a per-attempt timeout
/// outside, the caller going away) counts as `upstream_timeout`, as the boundary log says.
struct Pending {
    metrics: Option<Arc<UpstreamMetrics>>,
    started: Instant,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(metrics) = self.metrics.take() {
            metrics.record(
                Some(ErrorCode::UpstreamTimeout),
                None,
                self.started.elapsed(),
            );
        }
    }
}

impl<F> Future for AttemptMetricsFuture<F>
where
    F: Future<Output = Result<Response<Body>, Error>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Some(metrics) = this.pending.metrics.take() {
            let latency = this.pending.started.elapsed();
            match &result {
                Ok(response) => {
                    let status = response.status();
                    metrics.record(
                        ErrorCode::from_upstream_status(status),
                        Some(status.as_u16()),
                        latency,
                    );
                }
                Err(error) => metrics.record(Some(error.code()), None, latency),
            }
        }
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use metrics_exporter_prometheus::PrometheusBuilder;
    use tower::{ServiceExt, service_fn};

    use super::*;

    fn request() -> Request<Body> {
        Request::get("/x")
            .body(tidegate_core::body::empty())
            .unwrap()
    }

    #[test]
    fn every_attempt_is_counted_by_outcome_with_a_429_counted_apart() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .unwrap();
            rt.block_on(async {
                let layer = AttemptMetricsLayer::new("crm");
                for status in [200u16, 200, 429, 503] {
                    let svc = layer.layer(service_fn(move |_req: Request<Body>| async move {
                        Ok::<_, Error>(
                            Response::builder()
                                .status(status)
                                .body(tidegate_core::body::empty())
                                .unwrap(),
                        )
                    }));
                    let _ = svc.oneshot(request()).await.unwrap();
                }
                let failing = layer.layer(service_fn(|_req: Request<Body>| async {
                    Err::<Response<Body>, _>(Error::new(ErrorCode::UpstreamUnavailable, "reset"))
                }));
                let _ = failing.oneshot(request()).await.unwrap_err();
                // Dropped before it ended: a timeout.
                let hanging = layer.layer(service_fn(|_req: Request<Body>| async {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok::<Response<Body>, Error>(Response::new(tidegate_core::body::empty()))
                }));
                let _ = tokio::time::timeout(Duration::from_secs(1), hanging.oneshot(request()))
                    .await
                    .unwrap_err();
            });
        });
        let text = handle.render();
        let count = |outcome: &str| {
            text.lines()
                .find(|l| {
                    l.starts_with("tidegate_upstream_requests_total{")
                        && l.contains("connector=\"crm\"")
                        && l.contains(&format!("outcome=\"{outcome}\""))
                })
                .and_then(|l| l.rsplit(' ').next())
                .unwrap_or_else(|| panic!("no {outcome} series in\n{text}"))
                .to_owned()
        };
        assert_eq!(count("ok"), "2");
        assert_eq!(count("rate_limited"), "1");
        assert_eq!(count("upstream_server_error"), "1");
        assert_eq!(count("upstream_unavailable"), "1");
        assert_eq!(count("upstream_timeout"), "1");
        assert!(
            text.lines().any(
                |l| l.starts_with("tidegate_upstream_rate_limited_total{") && l.ends_with(" 1")
            ),
            "{text}"
        );
    }
}
