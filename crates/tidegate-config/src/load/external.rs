//! The values of one connector that only other crates understand — JSONata expressions, the
//! `rate_limit.format` name and the `webhooks.verify` scheme — put to the caller's
//! [`ValueChecks`], each error located at the value (or at `preset = ` when a preset supplied
//! it: [`Diagnostics`] maps preset spans there).

use super::diag::Diagnostics;
use super::validate::At;
use crate::{ConnectorConfig, ValueChecks};

/// Asks `checks` about every such value of `connector`, whose table is at `at`.
pub(crate) fn check_connector(
    connector: &ConnectorConfig,
    at: &At<'_, '_>,
    checks: &dyn ValueChecks,
    diag: &mut Diagnostics,
) {
    let mut expr = |keys: &[&str], src: Option<&str>| {
        if let Some(src) = src
            && let Err(problem) = checks.expression(src)
        {
            diag.error(
                at.span(keys),
                format!("`{}`: invalid JSONata expression: {problem}", at.name(keys)),
            );
        }
    };
    if let Some(e) = &connector.errors {
        for (key, src) in [
            ("code", &e.code),
            ("message", &e.message),
            ("class", &e.class),
            ("retryable", &e.retryable),
            ("when", &e.when),
            ("status", &e.status),
        ] {
            expr(&["errors", key], src.as_deref());
        }
    }
    if let Some(w) = &connector.webhooks {
        for (key, src) in [
            ("account", &w.account),
            ("object", &w.object),
            ("id", &w.id),
            ("version", &w.version),
            ("event_id", &w.event_id),
        ] {
            expr(&["webhooks", key], src.as_deref());
        }
    }
    if let Some(r) = &connector.reconcile {
        for (key, src) in [
            ("records", Some(&r.records)),
            ("id", Some(&r.id)),
            ("version", Some(&r.version)),
            ("next_page", r.next_page.as_ref()),
        ] {
            expr(&["reconcile", key], src.map(String::as_str));
        }
    }

    let mut name =
        |keys: &[&str], value: Option<&str>, check: &dyn Fn(&str) -> Result<(), String>| {
            if let Some(value) = value
                && let Err(problem) = check(value)
            {
                diag.error(at.span(keys), format!("`{}`: {problem}", at.name(keys)));
            }
        };
    if let Some(rl) = &connector.rate_limit {
        name(&["rate_limit", "format"], rl.format.as_deref(), &|v| {
            checks.rate_limit_format(v)
        });
    }
    if let Some(w) = &connector.webhooks {
        name(&["webhooks", "verify"], w.verify.as_deref(), &|v| {
            checks.webhook_scheme(v)
        });
    }
}
