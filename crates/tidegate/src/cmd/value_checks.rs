//! The [`ValueChecks`] every command loads its config with: the JSONata engine of
//! `tidegate-upstream`, its rate-limit settings builder and `tidegate-events`' webhook scheme
//! names — the very code that later uses the values — so `tidegate check` reports a bad
//! expression, format or scheme at its `PATH:LINE:COL` instead of failing at stack build time.

use tidegate_config::ValueChecks;
use tidegate_events::verify::Scheme;
use tidegate_upstream::settings::{RateLimitParts, rate_limit_settings};

/// The `rate_limit.format` names listed in the error message (aliases are accepted too); the
/// tests check that the rate-limit layer accepts each.
const RATE_LIMIT_FORMATS: &[&str] = &[
    "plain",
    "ietf",
    "used/limit",
    "shopify",
    "sforce-limit-info",
    "salesforce",
    "zendesk-endpoint",
    "zendesk",
    "hubspot",
    "xero",
];

/// Checks with the crates that interpret the values.
#[derive(Clone, Copy, Debug, Default)]
pub struct LayerChecks;

impl ValueChecks for LayerChecks {
    fn expression(&self, expr: &str) -> Result<(), String> {
        tidegate_upstream::compile(expr).map(drop)
    }

    fn rate_limit_format(&self, name: &str) -> Result<(), String> {
        // With nothing but the format set, the builder fails only on an unknown format.
        let parts = RateLimitParts {
            format: Some(name),
            ..RateLimitParts::default()
        };
        rate_limit_settings(&parts).map(drop).map_err(|_| {
            format!(
                "unknown rate-limit format {name:?}; expected one of: {}",
                RATE_LIMIT_FORMATS.join(", ")
            )
        })
    }

    fn webhook_scheme(&self, name: &str) -> Result<(), String> {
        name.parse::<Scheme>().map(drop).map_err(|e| {
            let known: Vec<&str> = Scheme::ALL.iter().map(|s| s.as_str()).collect();
            format!("{e}; expected one of: {}", known.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use tidegate_config::{Config, presets};

    use super::*;

    #[test]
    fn every_listed_rate_limit_format_is_accepted_and_others_are_not() {
        for name in RATE_LIMIT_FORMATS {
            assert_eq!(LayerChecks.rate_limit_format(name), Ok(()), "{name}");
        }
        for bad in ["x", "salesforce-ish", "ietf-draft"] {
            let err = LayerChecks.rate_limit_format(bad).unwrap_err();
            assert!(err.contains("expected one of: plain, ietf"), "{err}");
        }
    }

    #[test]
    fn every_scheme_name_is_accepted_and_an_unknown_one_lists_them() {
        for scheme in Scheme::ALL {
            assert_eq!(LayerChecks.webhook_scheme(scheme.as_str()), Ok(()));
        }
        let err = LayerChecks.webhook_scheme("stripe-v9").unwrap_err();
        assert!(err.contains("\"stripe-v9\""), "{err}");
        assert!(err.contains("standard-webhooks, stripe, github"), "{err}");
    }

    #[test]
    fn expressions_go_through_the_engine() {
        assert_eq!(LayerChecks.expression("errors[0].code"), Ok(()));
        assert!(LayerChecks.expression("errors[0.code").is_err());
        assert!(LayerChecks.expression("$eval('1')").is_err());
    }

    /// Every shipped preset still loads clean with the real checks: its expressions compile,
    /// its format and scheme are known.
    #[test]
    fn every_preset_passes_the_real_checks() {
        for name in presets::list() {
            let src = format!(
                "[server]\n[environments.production]\napi_keys = [\"k\"]\n[connectors.c]\n\
                 preset = \"{name}\"\nbase_url = \"https://tenant.example.com\"\n\
                 auth = {{ type = \"none\" }}\n"
            );
            let config = Config::from_str_with(&src, Path::new("t.toml"), &|_| None, &LayerChecks)
                .unwrap_or_else(|e| panic!("preset {name}:\n{e}"));
            assert_eq!(config.connectors["c"].preset.as_deref(), Some(name));
        }
    }
}
