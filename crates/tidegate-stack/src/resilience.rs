//! Settings of the resilience layers (`tidegate-layers`) from a connector's config.
//!
//! The layers are config-agnostic; this module is the one place that maps the TOML schema onto
//! their settings (owned by the resilience layers' author; see docs/resilience.md).
//!
//! Absent sections: no `breaker` table still gets a breaker with the defaults (5 consecutive
//! failures, open 30s) — protecting a failing upstream is never wrong; no `retry` table means
//! no retries (replaying is opt-in); no `idempotency` table means the provider has no key
//! support (its writes are never retried); no `concurrency` means no bulkhead.

use http::{HeaderName, Method};
use tidegate_config::{
    BreakerConfig, ConnectorConfig, IdempotencyConfig, RetryConfig, WindowConfig,
};
use tidegate_layers::{
    breaker::{BreakerScope, BreakerSettings, FailureStatuses, FailureWindow},
    idempotency::IdempotencySettings,
    retry::{RetryOn, RetrySettings},
    timeout::TimeoutSettings,
};

/// The whole-call deadline and body idle timeout.
pub fn timeout_settings(cfg: &ConnectorConfig) -> TimeoutSettings {
    TimeoutSettings {
        total: cfg.timeout,
        body_idle: cfg.body_idle_timeout,
    }
}

/// The breaker's settings (defaults when the connector has no `breaker` table).
pub fn breaker_settings(cfg: Option<&BreakerConfig>) -> Result<BreakerSettings, String> {
    let Some(cfg) = cfg else {
        return Ok(BreakerSettings::default());
    };
    let defaults = BreakerSettings::default();
    let consecutive_failures = match (
        cfg.consecutive_failures,
        cfg.failure_rate,
        cfg.slow_call_rate,
    ) {
        (None, None, None) => defaults.consecutive_failures,
        (n, _, _) => n,
    };
    Ok(BreakerSettings {
        scope: match cfg.scope {
            tidegate_config::BreakerScope::Connector => BreakerScope::Connector,
            tidegate_config::BreakerScope::Account => BreakerScope::Account,
        },
        consecutive_failures,
        failure_rate: cfg.failure_rate,
        window: match cfg.window {
            Some(WindowConfig::Calls(n)) => FailureWindow::Calls(n),
            Some(WindowConfig::Time(d)) => FailureWindow::Time(d),
            None => defaults.window,
        },
        min_calls: cfg.min_calls,
        slow_call_duration: cfg.slow_call_duration,
        slow_call_rate: cfg.slow_call_rate,
        open_for: cfg.open_for,
        max_open_for: cfg.max_open_for,
        half_open_probes: cfg.half_open_probes.max(1),
        failure_statuses: match &cfg.failure_statuses {
            Some(statuses) => FailureStatuses::from_statuses(statuses)?,
            None => FailureStatuses::default_5xx(),
        },
        open_jitter: defaults.open_jitter,
    })
}

/// The retry settings, or `None` when the connector does not retry.
pub fn retry_settings(cfg: Option<&RetryConfig>) -> Result<Option<RetrySettings>, String> {
    let Some(cfg) = cfg else { return Ok(None) };
    Ok(Some(RetrySettings {
        max_attempts: cfg.max_attempts.max(1),
        on: RetryOn::parse(&cfg.on)?,
        budget_percent: cfg.budget_percent,
        backoff_base: cfg.backoff_base,
        backoff_max: cfg.backoff_max,
        max_replay_body: usize::try_from(cfg.max_replay_body.as_u64()).unwrap_or(usize::MAX),
        ..RetrySettings::default()
    }))
}

/// The idempotency settings (no provider header when the connector has no table).
pub fn idempotency_settings(
    cfg: Option<&IdempotencyConfig>,
) -> Result<IdempotencySettings, String> {
    let Some(cfg) = cfg else {
        return Ok(IdempotencySettings::default());
    };
    let header = cfg
        .header
        .as_deref()
        .map(|h| {
            HeaderName::from_bytes(h.trim().to_ascii_lowercase().as_bytes())
                .map_err(|_| format!("idempotency header {h:?} is not a valid header name"))
        })
        .transpose()?;
    let methods = cfg
        .methods
        .iter()
        .map(|m| {
            Method::from_bytes(m.trim().to_ascii_uppercase().as_bytes())
                .map_err(|_| format!("idempotency method {m:?} is not an HTTP method"))
        })
        .collect::<Result<_, _>>()?;
    Ok(IdempotencySettings {
        header,
        methods,
        ..IdempotencySettings::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_tables_map_to_the_documented_defaults() {
        assert_eq!(breaker_settings(None).unwrap(), BreakerSettings::default());
        assert_eq!(retry_settings(None).unwrap(), None);
        assert_eq!(idempotency_settings(None).unwrap().header, None);
    }

    #[test]
    fn config_defaults_map_onto_layer_settings() {
        let breaker = breaker_settings(Some(&BreakerConfig::default())).unwrap();
        assert_eq!(
            breaker.consecutive_failures,
            Some(5),
            "a breaker that can open"
        );
        assert!(
            !breaker
                .failure_statuses
                .contains(http::StatusCode::NOT_IMPLEMENTED)
        );
        assert!(
            breaker
                .failure_statuses
                .contains(http::StatusCode::BAD_GATEWAY)
        );
        let retry = retry_settings(Some(&RetryConfig::default()))
            .unwrap()
            .unwrap();
        assert_eq!(retry.max_attempts, 3);
        assert_eq!(retry.on, RetryOn::default());
        assert_eq!(retry.max_replay_body, 64 * 1024);
    }

    #[test]
    fn a_429_in_retry_on_is_refused() {
        let cfg = RetryConfig {
            on: vec!["503".into(), "429".into()],
            ..RetryConfig::default()
        };
        assert!(retry_settings(Some(&cfg)).unwrap_err().contains("429"));
    }
}
