//! Settings of the upstream-semantics layers (`tidegate-upstream`) from a connector's config:
//! rate-limit header mapping, error expressions (compiled once, here) and local pacing.
//!
//! The layers are config-agnostic; this module is the one place that maps `rate_limit`,
//! `errors` and `request_id_header` onto their settings (owned by the upstream-semantics
//! author; see docs/connectors.md).

use std::sync::Arc;

use tidegate_config::ConnectorConfig;
use tidegate_upstream::{
    ErrorSettings, PacingSettings, RateLimitSettings,
    errors::ErrorExprs,
    settings::{ErrorParts, RateLimitParts, error_settings, pacing_settings, rate_limit_settings},
};

/// Everything the three upstream layers of one connector need.
pub struct UpstreamSettings {
    /// For `RateLimitHeadersLayer`.
    pub rate_limit: Arc<RateLimitSettings>,
    /// For `ErrorNormalizationLayer`.
    pub errors: Arc<ErrorSettings>,
    /// For `LocalPacingLayer`, when `rate_limit.local` is set.
    pub pacing: Option<PacingSettings>,
}

/// Builds the settings; an error names the offending key (a bad JSONata expression included).
pub fn upstream_settings(cfg: &ConnectorConfig) -> Result<UpstreamSettings, String> {
    let rl = cfg.rate_limit.clone().unwrap_or_default();
    let rate_limit = rate_limit_settings(&RateLimitParts {
        limit: rl.limit.as_deref(),
        remaining: rl.remaining.as_deref(),
        reset: rl.reset.as_deref(),
        reset_unit: rl.reset_unit.as_deref(),
        format: rl.format.as_deref(),
        window: rl.window,
    })?;
    let pacing = match rl.local_quota() {
        Some((requests, per)) => Some(pacing_settings(requests, per, rl.local_scope.as_deref())?),
        None => None,
    };
    let e = cfg.errors.clone().unwrap_or_default();
    let errors = error_settings(&ErrorParts {
        exprs: ErrorExprs {
            code: e.code.as_deref(),
            message: e.message.as_deref(),
            class: e.class.as_deref(),
            retryable: e.retryable.as_deref(),
            when: e.when.as_deref(),
            status: e.status.as_deref(),
        },
        rate_limited_statuses: e.rate_limited_statuses.clone(),
        include_body: e.include_body,
        request_id_header: cfg.request_id_header.as_deref(),
    })
    .map_err(|err| err.to_string())?;
    Ok(UpstreamSettings {
        rate_limit: Arc::new(rate_limit),
        errors: Arc::new(errors),
        pacing,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use tidegate_config::{Config, presets};

    use super::*;

    fn load(connector_body: &str) -> Config {
        let src = format!(
            "[server]\n\n[environments.production]\napi_keys = [\"key-1\"]\n\n[connectors.crm]\n{connector_body}\n"
        );
        Config::from_str(&src, Path::new("test.toml"), &|_| None).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn every_preset_builds_its_upstream_settings() {
        for name in presets::list() {
            let mut body =
                format!("preset = \"{name}\"\nbase_url = \"https://tenant.example.com\"\n");
            body.push_str("auth = { type = \"none\" }\n");
            let config = load(&body);
            let settings = upstream_settings(&config.connectors["crm"])
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                settings.errors.code.is_some() || settings.errors.message.is_some(),
                "{name}: error expressions"
            );
        }
    }

    #[test]
    fn a_bad_expression_and_local_pacing() {
        let config =
            load("base_url = \"https://x.example.com\"\nerrors = { code = \"error.(\" }\n");
        let err = upstream_settings(&config.connectors["crm"]).err().unwrap();
        assert!(err.starts_with("errors.code: invalid expression"), "{err}");
        let config = load(
            "base_url = \"https://x.example.com\"\nrate_limit = { local = \"100/10s\", local_scope = \"account\" }\n",
        );
        let settings = upstream_settings(&config.connectors["crm"]).unwrap();
        assert_eq!(
            settings.pacing.unwrap().scope,
            tidegate_upstream::PacingScope::Account
        );
    }
}
