//! `/metrics`: Prometheus text, rendered from the `metrics` facade's recorder
//! (`tidegate_observe::metrics`), so every crate (vault, events, layers) records through the
//! facade without depending on the gateway.
//!
//! The proxy's own series:
//! - `tidegate_proxy_requests_total{connector, status_class, code}`: every proxied request by
//!   the status class it was answered with (`2xx`…) and, for answers the gateway produced
//!   itself, the problem `code` (`upstream` when the upstream answered);
//! - `tidegate_proxy_request_duration_seconds{connector}`: time until response headers.
//!
//! The canonical series of the other components (upstream exchanges, breakers, retries, 429s,
//! refreshes, accounts, webhook deliveries, dropped log lines) are named in
//! `tidegate_observe::metrics`.
//!
//! Labels never carry account ids, keys or any caller-chosen string: a connector label is
//! always a configured connector name, or `-` when the request named none that exists.
//!
//! The hot path does no label lookup: per-connector handles ([`ConnectorMetrics`]) are
//! resolved once when the app is built; recording through a handle is an atomic update.
//!
//! Other components record through the facade:
//! ```
//! tidegate_observe::metrics::token_refresh("hubspot", "ok");
//! ```

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusRecorder;
use tidegate_core::ErrorCode;
use tidegate_observe::metrics::{PrometheusHandle, install_prometheus, prometheus_builder};

/// The media type of the `/metrics` answer (Prometheus text exposition format).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `tidegate_proxy_requests_total`.
pub const PROXY_REQUESTS_TOTAL: &str = "tidegate_proxy_requests_total";
/// `tidegate_proxy_request_duration_seconds`.
pub const PROXY_DURATION_SECONDS: &str = "tidegate_proxy_request_duration_seconds";

/// The gateway's own series (in a recorder of this app) plus, at render time, everything the
/// other crates recorded through the global facade recorder.
///
/// The proxy series live in a per-app recorder so that two apps in one process (tests) count
/// separately; `/metrics` renders both expositions one after the other (their names differ).
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
    local: Arc<PrometheusRecorder>,
    /// The global facade recorder's handle (`None` for [`Metrics::isolated`]).
    global: Option<PrometheusHandle>,
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
    /// The app's registry; `/metrics` also renders the global facade recorder (installed
    /// here once per process).
    pub fn new() -> Self {
        let mut metrics = Self::isolated();
        metrics.global = Some(install_prometheus());
        metrics
    }

    /// Only this app's series, without the global facade recorder (tests that count exactly).
    pub fn isolated() -> Self {
        let recorder = Arc::new(prometheus_builder().build_recorder());
        tidegate_observe::metrics::spawn_upkeep_while_alive(
            &recorder,
            tidegate_observe::metrics::UPKEEP_EVERY,
        );
        let metrics = Self {
            handle: recorder.handle(),
            local: recorder,
            global: None,
        };
        metrics.describe();
        metrics
    }

    /// Runs `f` (which resolves facade handles) against this app's recorder.
    fn resolve<T>(&self, f: impl FnOnce() -> T) -> T {
        ::metrics::with_local_recorder(&*self.local, f)
    }

    fn describe(&self) {
        self.resolve(|| {
            ::metrics::describe_counter!(
                PROXY_REQUESTS_TOTAL,
                "Proxied requests by connector, status class and gateway problem code"
            );
            ::metrics::describe_histogram!(
                PROXY_DURATION_SECONDS,
                ::metrics::Unit::Seconds,
                "Time from receiving a proxied request to sending its response headers"
            );
        });
    }

    /// The lock-free handles of one connector, resolved once.
    pub fn connector(&self, connector: &str) -> ConnectorMetrics {
        let class = |status_class: &'static str| {
            self.resolve(|| {
                ::metrics::counter!(
                    PROXY_REQUESTS_TOTAL,
                    "connector" => connector.to_owned(),
                    "status_class" => status_class,
                    "code" => "upstream"
                )
            })
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
            latency: self.resolve(|| {
                ::metrics::histogram!(PROXY_DURATION_SECONDS, "connector" => connector.to_owned())
            }),
            metrics: self.clone(),
        }
    }

    /// Counts a problem the gateway produced before a connector was known.
    pub fn count_unrouted(&self, code: ErrorCode) {
        self.count_problem("-", code.status().as_u16(), code);
    }

    fn count_problem(&self, connector: &str, status: u16, code: ErrorCode) {
        self.resolve(|| {
            ::metrics::counter!(
                PROXY_REQUESTS_TOTAL,
                "connector" => connector.to_owned(),
                "status_class" => status_class(status),
                "code" => code.as_str()
            )
            .increment(1);
        });
    }

    /// The Prometheus text of every series: this app's, then the global recorder's.
    pub fn encode(&self) -> String {
        let mut out = self.handle.render();
        if let Some(global) = &self.global {
            out.push_str(&global.render());
        }
        out
    }

    /// Runs histogram upkeep on both recorders (call periodically, e.g. every 10 s).
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
        if let Some(global) = &self.global {
            global.run_upkeep();
        }
    }
}

/// Per-connector handles (atomic updates only).
#[derive(Clone)]
pub struct ConnectorMetrics {
    name: String,
    upstream_by_class: [::metrics::Counter; 5],
    latency: ::metrics::Histogram,
    metrics: Metrics,
}

impl std::fmt::Debug for ConnectorMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorMetrics")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ConnectorMetrics {
    /// Records an answer: the upstream's status (`problem: None`) or a gateway problem.
    pub fn record(&self, status: u16, problem: Option<ErrorCode>, elapsed: std::time::Duration) {
        self.latency.record(elapsed.as_secs_f64());
        match problem {
            None => {
                let i = (status / 100).clamp(1, 5) as usize - 1;
                self.upstream_by_class[i].increment(1);
            }
            // Rare path: a labelled lookup is fine here.
            Some(code) => self.metrics.count_problem(&self.name, status, code),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn global_facade_series_are_rendered_too() {
        let metrics = Metrics::new();
        tidegate_observe::metrics::webhook_delivery("delivered");
        let text = metrics.encode();
        assert!(
            text.contains("tidegate_webhook_deliveries_total{result=\"delivered\"}"),
            "{text}"
        );
    }

    #[test]
    fn records_by_class_and_code_and_encodes() {
        let metrics = Metrics::new();
        let hubspot = metrics.connector("hubspot");
        hubspot.record(200, None, Duration::from_millis(3));
        hubspot.record(204, None, Duration::from_millis(3));
        hubspot.record(
            504,
            Some(ErrorCode::UpstreamTimeout),
            Duration::from_secs(2),
        );
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
            r#"tidegate_proxy_request_duration_seconds_bucket{connector="hubspot",le="0.005"} 2"#
        ), "{text}");
        assert!(
            text.contains(
                r#"tidegate_proxy_request_duration_seconds_count{connector="hubspot"} 3"#
            ),
            "{text}"
        );
    }
}
