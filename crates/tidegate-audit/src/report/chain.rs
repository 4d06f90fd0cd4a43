//! The processing chain per connector, in the terms a data processing agreement uses: what
//! tidegate receives, how it transforms it, what it buffers, for how long and where, and what it
//! stores.

use std::time::Duration;

use serde::Serialize;
use tidegate_config::{AuthConfig, BodyLogging, Config};

use super::dur;

/// The chain of one connector.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessingChain {
    pub connector: String,
    pub upstream: String,
    pub receives: Vec<String>,
    pub transforms: Vec<String>,
    pub buffers: Vec<Buffer>,
    pub stores: Vec<String>,
}

/// One place a payload can wait.
#[derive(Debug, Clone, Serialize)]
pub struct Buffer {
    pub what: String,
    pub max_duration: String,
    pub location: String,
    pub encrypted: bool,
}

pub(super) fn build(config: &Config) -> Vec<ProcessingChain> {
    let storage = crate::live::storage_kind(&config.storage.url);
    let retry_window: Duration = config.events.retry_schedule.iter().sum();
    config
        .connectors
        .iter()
        .map(|(name, c)| {
            let webhooks = c.webhooks.as_ref().is_some_and(|w| w.verify.is_some());
            let mut receives = vec![format!(
                "API requests from callers for {} (streamed, up to {})",
                c.base_url,
                tidegate_config::format_size(config.server.max_request_body.0)
            )];
            receives.push("the provider's responses (streamed back to the caller)".into());
            if webhooks {
                receives.push(format!(
                    "signed webhooks from the provider ({})",
                    c.webhooks
                        .as_ref()
                        .and_then(|w| w.verify.clone())
                        .unwrap_or_default()
                ));
            }
            if let Some(r) = &c.reconcile {
                receives.push(format!(
                    "pages of `{}` records fetched by reconciliation",
                    r.object
                ));
            }

            let mut transforms = vec![
                "removes the caller's Authorization, hop-by-hop headers and X-Integrated-Account-Id"
                    .to_owned(),
                format!("injects the account's {} credential", c.auth.type_name()),
                "normalizes error bodies to RFC 9457 problems and rate-limit headers to RateLimit-*"
                    .into(),
            ];
            if webhooks || c.reconcile.is_some() {
                transforms.push(
                    "wraps provider changes as signed record.changed events (Standard Webhooks)"
                        .into(),
                );
            }
            let body_logging = c
                .logging
                .as_ref()
                .and_then(|l| l.body)
                .unwrap_or(BodyLogging::Redacted);
            transforms.push(match body_logging {
                BodyLogging::Redacted => {
                    "logs exchange metadata; redacted bodies of sampled and error exchanges".into()
                }
                BodyLogging::Allowlist => {
                    "logs exchange metadata; only allow-listed body keys".into()
                }
                BodyLogging::None => "logs exchange metadata only, never bodies".into(),
            });

            let mut buffers = Vec::new();
            if webhooks || c.reconcile.is_some() {
                buffers.push(Buffer {
                    what: "events for the environment's webhook_url".into(),
                    max_duration: format!(
                        "{} of retries + {} dead-letter TTL",
                        dur(retry_window),
                        dur(config.events.dead_letter_ttl)
                    ),
                    location: format!("{storage} database"),
                    encrypted: true,
                });
                buffers.push(Buffer {
                    what: format!(
                        "payloads over {} (claim check)",
                        tidegate_config::format_size(config.claim_check.inline_limit.0)
                    ),
                    max_duration: format!("until read, at most {}", dur(config.claim_check.ttl)),
                    location: config.claim_check.url.clone(),
                    encrypted: true,
                });
            }
            if body_logging != BodyLogging::None {
                buffers.push(Buffer {
                    what: if body_logging == BodyLogging::Allowlist {
                        "allow-listed body keys in the boundary log".into()
                    } else {
                        "redacted bodies (sampled and error exchanges) in the boundary log".into()
                    },
                    max_duration: config
                        .logging
                        .retention
                        .map_or_else(|| "forever".to_owned(), dur),
                    location: config
                        .logging
                        .file
                        .as_ref()
                        .map_or_else(|| "stdout".to_owned(), |p| p.display().to_string()),
                    encrypted: false,
                });
            }

            let mut stores = Vec::new();
            match &c.auth {
                AuthConfig::None => stores.push("no credentials".to_owned()),
                a => stores.push(format!(
                    "{} credentials per account, encrypted, until the account is deleted",
                    a.type_name()
                )),
            }
            if c.reconcile.is_some() || webhooks {
                stores.push("ids and versions of delivered records (no payloads)".into());
            }
            ProcessingChain {
                connector: name.clone(),
                upstream: c.base_url.clone(),
                receives,
                transforms,
                buffers,
                stores,
            }
        })
        .collect()
}
