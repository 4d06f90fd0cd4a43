//! `/metrics`: Prometheus (OpenMetrics text) via `prometheus-client`.
//!
//! The proxy's own series:
//! - `tidegate_proxy_requests_total{connector, status_class, code}`: every proxied request by
//!   the status class it was answered with (`2xx`…) and, for answers the gateway produced
//!   itself, the problem `code` (`upstream` when the upstream answered);
//! - `tidegate_proxy_request_duration_seconds{connector}`: time until response headers.
//!
//! Labels never carry account ids, keys or any caller-chosen string: a connector label is
//! always a configured connector name, or `-` when the request named none that exists.
//!
//! The hot path touches no lock: per-connector handles ([`ConnectorMetrics`]) are resolved
//! once when the app is built, counters are atomics, and the latency histogram is our own
//! atomic-bucket [`AtomicHistogram`] (prometheus-client's takes a mutex per observation).
//!
//! Other components add their series at startup:
//! ```
//! use prometheus_client::metrics::{counter::Counter, family::Family};
//! # let metrics = tidegate_gateway::metrics::Metrics::new();
//! let refreshes = Family::<Vec<(String, String)>, Counter>::default();
//! metrics.register("tidegate_token_refreshes", "Token refreshes by connector and outcome", refreshes.clone());
//! refreshes.get_or_create(&vec![("connector".into(), "hubspot".into())]).inc();
//! ```

use std::sync::{
    Arc, RwLock,
    atomic::{AtomicU64, Ordering},
};

use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet},
    metrics::{MetricType, TypedMetric, counter::Counter, family::Family},
    registry::{Metric, Registry},
};
use tidegate_core::ErrorCode;

/// The media type of the `/metrics` answer.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of `tidegate_proxy_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Configured connector name, or `-`.
    pub connector: String,
    /// `1xx` … `5xx`.
    pub status_class: &'static str,
    /// Problem code of a gateway-produced answer, or `upstream`.
    pub code: &'static str,
}

/// Labels of per-connector series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectorLabels {
    /// Configured connector name.
    pub connector: String,
}

type HistogramFamily = Family<ConnectorLabels, AtomicHistogram, fn() -> AtomicHistogram>;

/// The registry and the proxy's own series.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<RwLock<Registry>>,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry holding the proxy's series.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: HistogramFamily = Family::new_with_constructor(AtomicHistogram::latency);
        registry.register(
            "tidegate_proxy_requests",
            "Proxied requests by connector, status class and gateway problem code",
            requests.clone(),
        );
        registry.register(
            "tidegate_proxy_request_duration_seconds",
            "Time from receiving a proxied request to sending its response headers",
            latency.clone(),
        );
        Self {
            registry: Arc::new(RwLock::new(registry)),
            requests,
            latency,
        }
    }

    /// Registers another metric (at startup; registration takes a lock, scraping too).
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.registry
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .register(name, help, metric);
    }

    /// The lock-free handles of one connector, resolved once.
    pub fn connector(&self, connector: &str) -> ConnectorMetrics {
        let class = |status_class| {
            self.requests
                .get_or_create(&RequestLabels {
                    connector: connector.to_owned(),
                    status_class,
                    code: "upstream",
                })
                .clone()
        };
        ConnectorMetrics {
            name: connector.to_owned(),
            upstream_by_class: [
                class("1xx"),
                class("2xx"),
                class("3xx"),
                class("4xx"),
                class("5xx"),
            ],
            latency: self
                .latency
                .get_or_create(&ConnectorLabels {
                    connector: connector.to_owned(),
                })
                .clone(),
            requests: self.requests.clone(),
        }
    }

    /// Counts a problem the gateway produced before a connector was known.
    pub fn count_unrouted(&self, code: ErrorCode) {
        self.requests
            .get_or_create(&RequestLabels {
                connector: "-".to_owned(),
                status_class: status_class(code.status().as_u16()),
                code: code.as_str(),
            })
            .inc();
    }

    /// The OpenMetrics text of every registered series.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(4096);
        let registry = self.registry.read().unwrap_or_else(|p| p.into_inner());
        prometheus_client::encoding::text::encode(&mut out, &registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Per-connector handles (atomics only).
#[derive(Clone, Debug)]
pub struct ConnectorMetrics {
    name: String,
    upstream_by_class: [Counter; 5],
    latency: AtomicHistogram,
    requests: Family<RequestLabels, Counter>,
}

impl ConnectorMetrics {
    /// Records an answer: the upstream's status (`problem: None`) or a gateway problem.
    pub fn record(&self, status: u16, problem: Option<ErrorCode>, elapsed: std::time::Duration) {
        self.latency.observe(elapsed);
        match problem {
            None => {
                let i = (status / 100).clamp(1, 5) as usize - 1;
                self.upstream_by_class[i].inc();
            }
            Some(code) => {
                // Rare path: a labelled lookup is fine here.
                self.requests
                    .get_or_create(&RequestLabels {
                        connector: self.name.clone(),
                        status_class: status_class(status),
                        code: code.as_str(),
                    })
                    .inc();
            }
        }
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// A histogram with fixed buckets updated with atomics only (no lock per observation).
#[derive(Clone, Debug)]
pub struct AtomicHistogram(Arc<HistogramInner>);

#[derive(Debug)]
struct HistogramInner {
    /// Upper bounds in microseconds, ascending; an implicit +Inf bucket follows.
    bounds_us: Vec<u64>,
    /// One count per bound plus +Inf (non-cumulative).
    counts: Vec<AtomicU64>,
    sum_us: AtomicU64,
    count: AtomicU64,
}

impl AtomicHistogram {
    /// Buckets from 1 ms to 60 s, for request latencies.
    pub fn latency() -> Self {
        Self::with_bounds(&[
            0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            10.0, 30.0, 60.0,
        ])
    }

    /// Buckets with the given upper bounds in seconds (ascending).
    pub fn with_bounds(bounds_secs: &[f64]) -> Self {
        let bounds_us: Vec<u64> = bounds_secs
            .iter()
            .map(|s| (s * 1_000_000.0).round() as u64)
            .collect();
        let counts = (0..=bounds_us.len()).map(|_| AtomicU64::new(0)).collect();
        Self(Arc::new(HistogramInner {
            bounds_us,
            counts,
            sum_us: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }))
    }

    /// Records one observation.
    pub fn observe(&self, elapsed: std::time::Duration) {
        let us = elapsed.as_micros().min(u64::MAX as u128) as u64;
        let inner = &*self.0;
        let bucket = inner
            .bounds_us
            .iter()
            .position(|b| us <= *b)
            .unwrap_or(inner.bounds_us.len());
        inner.counts[bucket].fetch_add(1, Ordering::Relaxed);
        inner.sum_us.fetch_add(us, Ordering::Relaxed);
        inner.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.0.count.load(Ordering::Relaxed)
    }
}

impl TypedMetric for AtomicHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for AtomicHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let inner = &*self.0;
        let mut buckets: Vec<(f64, u64)> = inner
            .bounds_us
            .iter()
            .zip(&inner.counts)
            .map(|(b, c)| (*b as f64 / 1_000_000.0, c.load(Ordering::Relaxed)))
            .collect();
        buckets.push((
            f64::INFINITY,
            inner.counts[inner.bounds_us.len()].load(Ordering::Relaxed),
        ));
        let count = buckets.iter().map(|(_, c)| c).sum();
        let sum = inner.sum_us.load(Ordering::Relaxed) as f64 / 1_000_000.0;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn records_by_class_and_code_and_encodes() {
        let metrics = Metrics::new();
        let hubspot = metrics.connector("hubspot");
        hubspot.record(200, None, Duration::from_millis(3));
        hubspot.record(204, None, Duration::from_millis(3));
        hubspot.record(504, Some(ErrorCode::UpstreamTimeout), Duration::from_secs(2));
        metrics.count_unrouted(ErrorCode::Unauthorized);
        let text = metrics.encode();
        assert!(text.contains(
            r#"tidegate_proxy_requests_total{connector="hubspot",status_class="2xx",code="upstream"} 2"#
        ), "{text}");
        assert!(text.contains(
            r#"tidegate_proxy_requests_total{connector="hubspot",status_class="5xx",code="upstream_timeout"} 1"#
        ), "{text}");
        assert!(text.contains(
            r#"tidegate_proxy_requests_total{connector="-",status_class="4xx",code="unauthorized"} 1"#
        ), "{text}");
        assert!(text.contains(
            r#"tidegate_proxy_request_duration_seconds_bucket{le="0.005",connector="hubspot"} 2"#
        ), "{text}");
        assert!(text.contains(
            r#"tidegate_proxy_request_duration_seconds_count{connector="hubspot"} 3"#
        ), "{text}");
    }
}
