//! Building this crate's settings from configuration values (plain strings and numbers, so that
//! the config crate's types stay out of this crate; `tidegate-stack` calls these at wiring time).
//!
//! `rate_limit.format` selects how the vendor's headers are read:
//!
//! | format | reads |
//! |---|---|
//! | `plain` (default) | the `limit` / `remaining` / `reset` headers named in config, `reset_unit` applies |
//! | `used/limit`, `shopify` | `limit` header (default `X-Shopify-Shop-Api-Call-Limit`) holds `used/limit` |
//! | `sforce-limit-info`, `salesforce` | `limit` header (default `Sforce-Limit-Info`): every `key=used/limit` member |
//! | `zendesk-endpoint` | every `zendesk-ratelimit-*` header (`total=; remaining=; resets=`) |
//! | `zendesk` | `X-Rate-Limit` / `X-Rate-Limit-Remaining` (per minute) + `zendesk-ratelimit-*` (+ IETF `ratelimit-*`, detected) |
//! | `hubspot` | the interval limit (`X-HubSpot-RateLimit-Max/-Remaining`, window from `-Interval-Milliseconds`) and the daily one (`-Daily/-Daily-Remaining`) |
//! | `xero` | `X-DayLimit-Remaining` (5000/day), `X-MinLimit-Remaining` (60/min), `X-AppMinLimit-Remaining` (10000/min) |
//! | `ietf` | nothing vendor-specific: only the IETF forms, detected automatically |
//!
//! Whatever the format, the IETF forms and `Retry-After` are always detected too.

use std::time::Duration;

use http::HeaderName;

use crate::{
    errors::{ErrorExprs, ErrorSettings, ExprError},
    pacing::{PacingScope, PacingSettings},
    ratelimit::{LimitMapping, RateLimitSettings, ResetUnit, ValueFormat},
};

/// `rate_limit.*` as written in config.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateLimitParts<'a> {
    /// Header with the quota (or the combined value, per format).
    pub limit: Option<&'a str>,
    /// Header with the remaining count.
    pub remaining: Option<&'a str>,
    /// Header with the reset.
    pub reset: Option<&'a str>,
    /// Unit of `reset` ([`ResetUnit`]'s names).
    pub reset_unit: Option<&'a str>,
    /// Format / vendor profile (see the module docs).
    pub format: Option<&'a str>,
    /// Documented window length.
    pub window: Option<Duration>,
}

fn header(field: &str, name: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(name.trim().to_ascii_lowercase().as_bytes())
        .map_err(|_| format!("rate_limit.{field}: {name:?} is not a valid header name"))
}

fn opt_header(field: &str, name: Option<&str>) -> Result<Option<HeaderName>, String> {
    name.map(|n| header(field, n)).transpose()
}

/// The [`RateLimitSettings`] for `parts`; the error names the offending key.
pub fn rate_limit_settings(parts: &RateLimitParts<'_>) -> Result<RateLimitSettings, String> {
    let window = parts.window.map(|w| w.as_secs().max(1));
    let unit: ResetUnit = parts.reset_unit.unwrap_or("auto").parse()?;
    let custom = |name: &str,
                  format: ValueFormat,
                  default_limit: Option<&'static str>|
     -> Result<LimitMapping, String> {
        Ok(LimitMapping {
            name: name.to_owned(),
            limit: match opt_header("limit", parts.limit)? {
                Some(h) => Some(h),
                None => default_limit.map(HeaderName::from_static),
            },
            quota: None,
            remaining: opt_header("remaining", parts.remaining)?,
            reset: opt_header("reset", parts.reset)?,
            reset_unit: unit,
            format,
            window_secs: window,
        })
    };
    let format = parts.format.unwrap_or("plain").trim().to_ascii_lowercase();
    let mappings = match format.as_str() {
        "ietf" => Vec::new(),
        "shopify" => vec![custom(
            "default",
            ValueFormat::UsedOfLimit,
            Some("x-shopify-shop-api-call-limit"),
        )?],
        "salesforce" => vec![custom(
            "api-usage",
            ValueFormat::SforceLimitInfo,
            Some("sforce-limit-info"),
        )?],
        "zendesk-endpoint" | "zendesk_endpoint" => {
            vec![custom(
                "endpoint",
                ValueFormat::ZendeskEndpoint,
                Some("zendesk-ratelimit-*"),
            )?]
        }
        "hubspot" => vec![
            LimitMapping::new("interval")
                .limit("x-hubspot-ratelimit-max")
                .remaining("x-hubspot-ratelimit-remaining")
                .reset(
                    "x-hubspot-ratelimit-interval-milliseconds",
                    ResetUnit::WindowMillis,
                ),
            LimitMapping::new("secondly")
                .limit("x-hubspot-ratelimit-secondly")
                .remaining("x-hubspot-ratelimit-secondly-remaining")
                .window_secs(1),
            LimitMapping::new("daily")
                .limit("x-hubspot-ratelimit-daily")
                .remaining("x-hubspot-ratelimit-daily-remaining")
                .window_secs(86_400),
        ],
        "zendesk" => vec![
            LimitMapping::new("account")
                .limit("x-rate-limit")
                .remaining("x-rate-limit-remaining")
                .window_secs(60),
            LimitMapping::new("endpoint")
                .limit("zendesk-ratelimit-*")
                .format(ValueFormat::ZendeskEndpoint),
        ],
        "xero" => vec![
            LimitMapping::new("day")
                .remaining("x-daylimit-remaining")
                .quota(5_000)
                .window_secs(86_400),
            LimitMapping::new("minute")
                .remaining("x-minlimit-remaining")
                .quota(60)
                .window_secs(60),
            LimitMapping::new("app-minute")
                .remaining("x-appminlimit-remaining")
                .quota(10_000)
                .window_secs(60),
        ],
        other => {
            let value_format: ValueFormat = other.parse()?;
            let default_limit = match value_format {
                ValueFormat::ZendeskEndpoint => Some("zendesk-ratelimit-*"),
                _ => None,
            };
            let m = custom("default", value_format, default_limit)?;
            if value_format == ValueFormat::Plain && m.remaining.is_none() {
                if m.limit.is_some() || m.reset.is_some() {
                    return Err("rate_limit.remaining: required with rate_limit.limit/reset".into());
                }
                Vec::new()
            } else {
                vec![m]
            }
        }
    };
    Ok(RateLimitSettings::with_mappings(mappings))
}

/// `errors.*` and `request_id_header` as written in config.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorParts<'a> {
    /// The expressions.
    pub exprs: ErrorExprs<'a>,
    /// `errors.rate_limited_statuses`.
    pub rate_limited_statuses: Vec<u16>,
    /// `errors.include_body`.
    pub include_body: bool,
    /// The connector's `request_id_header`.
    pub request_id_header: Option<&'a str>,
}

/// The compiled [`ErrorSettings`] for `parts`.
pub fn error_settings(parts: &ErrorParts<'_>) -> Result<ErrorSettings, ExprError> {
    let request_id_header = match parts.request_id_header {
        Some(h) => Some(
            HeaderName::from_bytes(h.trim().to_ascii_lowercase().as_bytes()).map_err(|_| {
                ExprError {
                    field: "request_id_header",
                    message: format!("{h:?} is not a valid header name"),
                }
            })?,
        ),
        None => None,
    };
    Ok(ErrorSettings::compile(&parts.exprs)?
        .with_rate_limited_statuses(parts.rate_limited_statuses.clone())
        .with_include_body(parts.include_body)
        .with_request_id_header(request_id_header))
}

/// `rate_limit.local` (already split into count and period) with `rate_limit.local_scope`.
pub fn pacing_settings(
    requests: u32,
    per: Duration,
    scope: Option<&str>,
) -> Result<PacingSettings, String> {
    let scope: PacingScope = scope.unwrap_or("connector").parse()?;
    PacingSettings::new(requests, per, scope)
}
