//! The canonical metric names and the helpers every crate records through.
//!
//! ```
//! use tidegate_observe::metrics;
//!
//! // Any crate records through the `metrics` facade; without an installed recorder this is a
//! // no-op, so libraries and tests need no setup.
//! metrics::request_finished("hubspot", "ok", std::time::Duration::from_millis(12));
//! metrics::breaker_state("hubspot", metrics::BreakerState::Open);
//! ```
//!
//! The gateway calls [`install_prometheus`] once and serves [`PrometheusHandle::render`] at
//! `/metrics`. Labels are a closed set: connector names (from config), outcomes (the fixed
//! `ErrorCode` vocabulary or `"ok"`), and small enums. Never an account id, a request id, a URL
//! or anything a caller or an upstream controls, so cardinality stays bounded and nothing
//! secret can become a label.

use std::{sync::OnceLock, time::Duration};

use tidegate_core::ErrorCode;

pub use metrics_exporter_prometheus::PrometheusHandle;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

/// Caller requests through the gateway or an in-process stack, by `connector`, `outcome`.
pub const REQUESTS_TOTAL: &str = "tidegate_requests_total";
/// Their latency in seconds, by `connector`, `outcome`.
pub const REQUEST_DURATION_SECONDS: &str = "tidegate_request_duration_seconds";
/// Upstream exchanges (one per attempt), by `connector`, `outcome`.
pub const UPSTREAM_REQUESTS_TOTAL: &str = "tidegate_upstream_requests_total";
/// Upstream exchange latency (to response headers) in seconds, by `connector`, `outcome`.
pub const UPSTREAM_DURATION_SECONDS: &str = "tidegate_upstream_request_duration_seconds";
/// Circuit-breaker state by `connector`: 0 closed, 1 half-open, 2 open.
pub const BREAKER_STATE: &str = "tidegate_breaker_state";
/// Retries issued, by `connector`.
pub const RETRIES_TOTAL: &str = "tidegate_retries_total";
/// Upstream 429 responses, by `connector`.
pub const RATE_LIMITED_TOTAL: &str = "tidegate_upstream_rate_limited_total";
/// Token refreshes, by `connector`, `result` (`ok`, `failed`, `revoked`).
pub const TOKEN_REFRESHES_TOTAL: &str = "tidegate_token_refreshes_total";
/// Stored accounts, by `connector`, `status` (`active`, `needs_reauth`).
pub const ACCOUNTS: &str = "tidegate_accounts";
/// Event deliveries to environments' webhook URLs, by `result` (`delivered`, `failed`,
/// `dead_lettered`).
pub const WEBHOOK_DELIVERIES_TOTAL: &str = "tidegate_webhook_deliveries_total";
/// Boundary-log lines dropped because the writer could not keep up.
pub const LOG_LINES_DROPPED_TOTAL: &str = "tidegate_log_lines_dropped_total";
/// Boundary-log writes that failed (disk full, closed stdout).
pub const LOG_WRITE_ERRORS_TOTAL: &str = "tidegate_log_write_errors_total";

/// Histogram buckets (seconds) for request latencies: 1 ms to 60 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The states of a circuit breaker as the [`BREAKER_STATE`] gauge encodes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls flow.
    Closed,
    /// A few probe calls flow.
    HalfOpen,
    /// Calls fail fast.
    Open,
}

impl BreakerState {
    fn gauge_value(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }
}

/// A caller request finished with `outcome` (`"ok"` or an `ErrorCode` wire name).
pub fn request_finished(connector: &str, outcome: &str, latency: Duration) {
    let labels = [
        ("connector", connector.to_owned()),
        ("outcome", outcome.to_owned()),
    ];
    metrics::counter!(REQUESTS_TOTAL, &labels).increment(1);
    metrics::histogram!(REQUEST_DURATION_SECONDS, &labels).record(latency.as_secs_f64());
}

/// One upstream exchange (attempt) finished; also counts 429s. Called by the boundary-log layer.
pub fn upstream_exchange(connector: &str, outcome: &str, status: Option<u16>, latency: Duration) {
    let labels = [
        ("connector", connector.to_owned()),
        ("outcome", outcome.to_owned()),
    ];
    metrics::counter!(UPSTREAM_REQUESTS_TOTAL, &labels).increment(1);
    metrics::histogram!(UPSTREAM_DURATION_SECONDS, &labels).record(latency.as_secs_f64());
    if status == Some(429) {
        metrics::counter!(RATE_LIMITED_TOTAL, "connector" => connector.to_owned()).increment(1);
    }
}

/// Pre-resolved upstream-exchange series of one connector: the boundary-log layer's hot path
/// records through these handles (an atomic update) instead of looking labels up per call.
pub struct UpstreamMetrics {
    connector: String,
    /// Index 0: `ok`; 1..: `ErrorCode::ALL` in order.
    by_outcome: [OnceLock<(metrics::Counter, metrics::Histogram)>; 1 + ErrorCode::ALL.len()],
    rate_limited: OnceLock<metrics::Counter>,
}

impl std::fmt::Debug for UpstreamMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamMetrics")
            .field("connector", &self.connector)
            .finish_non_exhaustive()
    }
}

impl UpstreamMetrics {
    /// Handles for `connector`, resolved lazily (against the recorder current at first use).
    pub fn new(connector: &str) -> Self {
        UpstreamMetrics {
            connector: connector.to_owned(),
            by_outcome: std::array::from_fn(|_| OnceLock::new()),
            rate_limited: OnceLock::new(),
        }
    }

    /// One exchange finished with `outcome` (`None`: ok) and the upstream `status`, if any.
    pub fn record(&self, outcome: Option<ErrorCode>, status: Option<u16>, latency: Duration) {
        let index = outcome.map_or(0, |code| {
            1 + ErrorCode::ALL
                .iter()
                .position(|c| *c == code)
                .expect("ALL lists every code")
        });
        let (counter, histogram) = self.by_outcome[index].get_or_init(|| {
            let labels = [
                ("connector", self.connector.clone()),
                (
                    "outcome",
                    outcome.map_or("ok", ErrorCode::as_str).to_owned(),
                ),
            ];
            (
                metrics::counter!(UPSTREAM_REQUESTS_TOTAL, &labels),
                metrics::histogram!(UPSTREAM_DURATION_SECONDS, &labels),
            )
        });
        counter.increment(1);
        histogram.record(latency.as_secs_f64());
        if status == Some(429) {
            self.rate_limited
                .get_or_init(
                    || metrics::counter!(RATE_LIMITED_TOTAL, "connector" => self.connector.clone()),
                )
                .increment(1);
        }
    }
}

/// A breaker changed state.
pub fn breaker_state(connector: &str, state: BreakerState) {
    metrics::gauge!(BREAKER_STATE, "connector" => connector.to_owned()).set(state.gauge_value());
}

/// A retry was issued.
pub fn retry_issued(connector: &str) {
    metrics::counter!(RETRIES_TOTAL, "connector" => connector.to_owned()).increment(1);
}

/// A token refresh finished with `result` (`ok`, `failed`, `revoked`).
pub fn token_refresh(connector: &str, result: &str) {
    metrics::counter!(TOKEN_REFRESHES_TOTAL, "connector" => connector.to_owned(), "result" => result.to_owned())
        .increment(1);
}

/// The number of accounts of `connector` in `status` (set from a periodic count).
pub fn accounts(connector: &str, status: &str, count: u64) {
    #[allow(clippy::cast_precision_loss)] // account counts are far below 2^53
    let count = count as f64;
    metrics::gauge!(ACCOUNTS, "connector" => connector.to_owned(), "status" => status.to_owned())
        .set(count);
}

/// An event delivery attempt finished with `result` (`delivered`, `failed`, `dead_lettered`).
pub fn webhook_delivery(result: &str) {
    metrics::counter!(WEBHOOK_DELIVERIES_TOTAL, "result" => result.to_owned()).increment(1);
}

/// A boundary-log line was dropped.
pub fn log_line_dropped() {
    metrics::counter!(LOG_LINES_DROPPED_TOTAL).increment(1);
}

/// A boundary-log write failed.
pub fn log_write_failed() {
    metrics::counter!(LOG_WRITE_ERRORS_TOTAL).increment(1);
}

/// The Prometheus builder with tidegate's histogram buckets and metric descriptions.
pub fn prometheus_builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
        .expect("LATENCY_BUCKETS is non-empty")
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the global Prometheus recorder (once; later calls return the same handle).
///
/// If some other global recorder was installed first, metrics go there and the returned
/// handle renders an empty page; that is reported with a warning, not a panic.
pub fn install_prometheus() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = prometheus_builder().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
            }
            describe();
            spawn_upkeep_thread(handle.clone(), UPKEEP_EVERY);
            handle
        })
        .clone()
}

/// How often [`install_prometheus`]'s recorder drains histogram samples.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Runs [`PrometheusHandle::run_upkeep`] every `every` on a small background thread, so
/// histogram samples do not pile up when nobody scrapes (the recorder keeps raw samples until
/// upkeep or a render folds them into buckets). The thread lives as long as the process.
pub fn spawn_upkeep_thread(handle: PrometheusHandle, every: Duration) {
    let spawned = std::thread::Builder::new()
        .name("tidegate-metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(every);
                handle.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the metrics upkeep thread");
    }
}

/// Like [`spawn_upkeep_thread`] for a recorder that is not global: the thread stops once the
/// last strong reference to `recorder` is dropped.
pub fn spawn_upkeep_while_alive(
    recorder: &std::sync::Arc<metrics_exporter_prometheus::PrometheusRecorder>,
    every: Duration,
) {
    let weak = std::sync::Arc::downgrade(recorder);
    let spawned = std::thread::Builder::new()
        .name("tidegate-metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(every);
                match weak.upgrade() {
                    Some(recorder) => recorder.handle().run_upkeep(),
                    None => return,
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the metrics upkeep thread");
    }
}

/// Registers help texts for the canonical metrics with the installed recorder.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(REQUESTS_TOTAL, "Caller requests by connector and outcome");
    describe_histogram!(
        REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "Caller request latency"
    );
    describe_counter!(
        UPSTREAM_REQUESTS_TOTAL,
        "Upstream exchanges (per attempt) by connector and outcome"
    );
    describe_histogram!(
        UPSTREAM_DURATION_SECONDS,
        Unit::Seconds,
        "Upstream latency to response headers"
    );
    describe_gauge!(
        BREAKER_STATE,
        "Circuit breaker state (0 closed, 1 half-open, 2 open)"
    );
    describe_counter!(RETRIES_TOTAL, "Retries issued");
    describe_counter!(RATE_LIMITED_TOTAL, "Upstream 429 responses");
    describe_counter!(TOKEN_REFRESHES_TOTAL, "Token refreshes by result");
    describe_gauge!(ACCOUNTS, "Stored accounts by status");
    describe_counter!(WEBHOOK_DELIVERIES_TOTAL, "Event deliveries by result");
    describe_counter!(
        LOG_LINES_DROPPED_TOTAL,
        "Boundary-log lines dropped because the writer was behind"
    );
    describe_counter!(LOG_WRITE_ERRORS_TOTAL, "Boundary-log writes that failed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_handles_record_by_outcome() {
        let recorder = prometheus_builder().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            let m = UpstreamMetrics::new("crm");
            m.record(None, Some(200), Duration::from_millis(1));
            m.record(None, Some(200), Duration::from_millis(1));
            m.record(
                Some(ErrorCode::RateLimited),
                Some(429),
                Duration::from_millis(1),
            );
            m.record(
                Some(ErrorCode::UpstreamTimeout),
                None,
                Duration::from_secs(1),
            );
        });
        let text = handle.render();
        for expected in [
            "tidegate_upstream_requests_total{connector=\"crm\",outcome=\"ok\"} 2",
            "tidegate_upstream_requests_total{connector=\"crm\",outcome=\"rate_limited\"} 1",
            "tidegate_upstream_requests_total{connector=\"crm\",outcome=\"upstream_timeout\"} 1",
            "tidegate_upstream_rate_limited_total{connector=\"crm\"} 1",
        ] {
            assert!(text.contains(expected), "missing {expected} in:\n{text}");
        }
    }

    #[test]
    fn helpers_render_as_prometheus_text() {
        let recorder = prometheus_builder().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            describe();
            request_finished("hubspot", "ok", Duration::from_millis(20));
            request_finished("hubspot", "rate_limited", Duration::from_millis(5));
            upstream_exchange(
                "hubspot",
                "rate_limited",
                Some(429),
                Duration::from_millis(5),
            );
            breaker_state("hubspot", BreakerState::Open);
            retry_issued("hubspot");
            token_refresh("hubspot", "ok");
            accounts("hubspot", "active", 3);
            webhook_delivery("delivered");
            log_line_dropped();
        });
        let text = handle.render();
        for expected in [
            "tidegate_requests_total{connector=\"hubspot\",outcome=\"ok\"} 1",
            "tidegate_request_duration_seconds_bucket{connector=\"hubspot\",outcome=\"ok\",le=\"0.025\"} 1",
            "tidegate_upstream_rate_limited_total{connector=\"hubspot\"} 1",
            "tidegate_breaker_state{connector=\"hubspot\"} 2",
            "tidegate_retries_total{connector=\"hubspot\"} 1",
            "tidegate_token_refreshes_total{connector=\"hubspot\",result=\"ok\"} 1",
            "tidegate_accounts{connector=\"hubspot\",status=\"active\"} 3",
            "tidegate_webhook_deliveries_total{result=\"delivered\"} 1",
            "tidegate_log_lines_dropped_total 1",
        ] {
            assert!(text.contains(expected), "missing {expected} in:\n{text}");
        }
    }
}
