//! A hook for checks that only the crates interpreting a value can make.
//!
//! The config crate stays free of the JSONata engine, the rate-limit parsers and the webhook
//! verifiers, yet a bad `errors.code` expression, an unknown `rate_limit.format` or an unknown
//! `webhooks.verify` scheme must be a config error at the value's own `PATH:LINE:COL` (or at
//! the connector's `preset = ` line when a preset supplied it), not a failure later at stack
//! build time with no location. So the loader asks a [`ValueChecks`] about each such value,
//! at the span it already tracks; the binary passes an implementation backed by the real
//! engine and parsers ([`Config::load_with`](crate::Config::load_with)).
//!
//! ```
//! use std::path::Path;
//! use tidegate_config::{Config, ValueChecks};
//!
//! /// Rejects every expression that mentions `$now` (a stand-in for a real engine).
//! struct NoNow;
//! impl ValueChecks for NoNow {
//!     fn expression(&self, expr: &str) -> Result<(), String> {
//!         if expr.contains("$now") { Err("no clocks here".into()) } else { Ok(()) }
//!     }
//!     fn rate_limit_format(&self, _: &str) -> Result<(), String> { Ok(()) }
//!     fn webhook_scheme(&self, _: &str) -> Result<(), String> { Ok(()) }
//! }
//!
//! let toml = r#"[server]
//! [environments.production]
//! api_keys = ["k"]
//! [connectors.crm]
//! base_url = "https://api.example.com"
//! errors = { code = "$now()" }
//! "#;
//! let errors = Config::from_str_with(toml, Path::new("t.toml"), &|_| None, &NoNow).unwrap_err();
//! assert_eq!(
//!     errors.to_string(),
//!     "t.toml:6:19: `connectors.crm.errors.code`: invalid JSONata expression: no clocks here"
//! );
//! ```

/// Checks of config values whose meaning lives outside this crate. Each method returns `Err`
/// with a message for the operator (the loader prefixes the value's config path and location).
pub trait ValueChecks {
    /// Whether `expr` compiles as a JSONata expression: `errors.code/message/class/retryable/
    /// when/status`, `webhooks.account/object/id/version/event_id` and `reconcile.records/id/
    /// version/next_page`.
    fn expression(&self, expr: &str) -> Result<(), String>;

    /// Whether `name` is a `rate_limit.format` the rate-limit layer understands.
    fn rate_limit_format(&self, name: &str) -> Result<(), String>;

    /// Whether `name` is a `webhooks.verify` signature scheme the webhook receiver implements.
    fn webhook_scheme(&self, name: &str) -> Result<(), String>;
}

/// Accepts everything: what [`Config::load`](crate::Config::load) and
/// [`Config::from_str`](crate::Config::from_str) use. Such values are then only checked when
/// the connector stacks are built.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoValueChecks;

impl ValueChecks for NoValueChecks {
    fn expression(&self, _: &str) -> Result<(), String> {
        Ok(())
    }

    fn rate_limit_format(&self, _: &str) -> Result<(), String> {
        Ok(())
    }

    fn webhook_scheme(&self, _: &str) -> Result<(), String> {
        Ok(())
    }
}
