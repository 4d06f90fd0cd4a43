//! Account lifecycle events (`account.needs_reauth`, `account.refreshed`, `account.connected`,
//! `account.refresh_failed`) and the small [`EventSink`] trait they are handed to.
//!
//! Durable, retried delivery lives in `tidegate-events`, which implements [`EventSink`]; the
//! [`WebhookEventSink`] here is the simple direct sender (Standard Webhooks signature, a few
//! in-memory retries) for in-process use and tests.

use std::{collections::HashMap, future::Future, pin::Pin, sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

/// One event, in the body shape of CONTRACT §8.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AccountEvent {
    /// `evt_<uuidv7>`; also the `webhook-id` (stable across retries).
    pub id: String,
    /// `account.needs_reauth`, `account.refreshed`, `account.connected`, `account.refresh_failed`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// RFC 3339.
    pub created_at: String,
    /// The account's environment (decides the webhook_url).
    pub environment: String,
    /// The account's connector.
    pub connector: String,
    /// The account.
    pub integrated_account_id: String,
    /// Type-specific details (never a secret).
    pub data: serde_json::Value,
}

impl AccountEvent {
    /// A new event with a fresh id and the current time.
    pub fn new(
        event_type: &str,
        environment: &str,
        connector: &str,
        account_id: &str,
        data: serde_json::Value,
    ) -> Self {
        Self {
            id: format!("evt_{}", uuid::Uuid::now_v7().simple()),
            event_type: event_type.to_owned(),
            created_at: crate::clock::rfc3339(crate::clock::now_ms()),
            environment: environment.to_owned(),
            connector: connector.to_owned(),
            integrated_account_id: account_id.to_owned(),
            data,
        }
    }
}

/// Where the vault hands its events. `emit` is awaited after the state change it reports is
/// persisted, so a durable implementation can enqueue before returning.
pub trait EventSink: Send + Sync + 'static {
    /// Accepts one event for delivery.
    fn emit(&self, event: AccountEvent) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Logs events and delivers nothing: for embedded use without environments.
#[derive(Debug, Default)]
pub struct LogEventSink;

impl EventSink for LogEventSink {
    fn emit(&self, event: AccountEvent) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        tracing::info!(event_type = %event.event_type, account = %event.integrated_account_id, connector = %event.connector, "account event");
        Box::pin(async {})
    }
}

/// Where one environment's events go.
#[derive(Clone)]
pub struct WebhookTarget {
    /// The environment's `webhook_url`.
    pub url: String,
    /// The environment's `whsec_...` secret.
    pub secret: SecretString,
}

/// Signs `{id}.{timestamp}.{body}` per Standard Webhooks: HMAC-SHA256 keyed by the base64-decoded
/// `whsec_` secret, answered as `v1,<base64>`.
pub fn sign_standard_webhook(
    secret: &SecretString,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, &'static str> {
    let raw = secret.expose_secret();
    let b64 = raw.strip_prefix("whsec_").unwrap_or(raw);
    let key_bytes = zeroize::Zeroizing::new(
        B64.decode(b64)
            .map_err(|_| "webhook secret is not whsec_<base64>")?,
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key_bytes);
    let mut ctx = aws_lc_rs::hmac::Context::with_key(&key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    Ok(format!("v1,{}", B64.encode(ctx.sign().as_ref())))
}

/// Sends each event straight to its environment's `webhook_url`, signed per Standard
/// Webhooks, with up to `attempts` tries (1 s, 5 s backoff). Delivery runs in the background;
/// an event that still fails is logged and dropped (use tidegate-events for durability).
pub struct WebhookEventSink {
    targets: HashMap<String, WebhookTarget>,
    http: reqwest::Client,
    attempts: usize,
}

impl WebhookEventSink {
    /// A sink delivering to `targets` (environment → target).
    pub fn new(targets: HashMap<String, WebhookTarget>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("reqwest client builds");
        Self {
            targets,
            http,
            attempts: 3,
        }
    }

    async fn deliver(
        http: reqwest::Client,
        target: WebhookTarget,
        event: AccountEvent,
        attempts: usize,
    ) {
        let body = serde_json::to_vec(&event).expect("events serialize");
        let delays = [
            Duration::ZERO,
            Duration::from_secs(1),
            Duration::from_secs(5),
        ];
        for (attempt, delay) in delays.iter().take(attempts.max(1)).enumerate() {
            tokio::time::sleep(*delay).await;
            let ts = crate::clock::now_ms() / 1000;
            let Ok(sig) = sign_standard_webhook(&target.secret, &event.id, ts, &body) else {
                tracing::error!(environment = %event.environment, "webhook_secret is not a whsec_ base64 secret; event dropped");
                return;
            };
            let res = http
                .post(&target.url)
                .header("content-type", "application/json")
                .header("webhook-id", &event.id)
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", sig)
                .body(body.clone())
                .send()
                .await;
            match res {
                Ok(r) if r.status().is_success() => return,
                Ok(r) => {
                    tracing::warn!(status = r.status().as_u16(), attempt, event_type = %event.event_type, "event delivery rejected")
                }
                Err(e) => {
                    tracing::warn!(error = %e, attempt, event_type = %event.event_type, "event delivery failed")
                }
            }
        }
        tracing::error!(event_id = %event.id, event_type = %event.event_type, "event delivery gave up");
    }
}

impl EventSink for WebhookEventSink {
    fn emit(&self, event: AccountEvent) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        match self.targets.get(&event.environment) {
            Some(target) => {
                tokio::spawn(Self::deliver(
                    self.http.clone(),
                    target.clone(),
                    event,
                    self.attempts,
                ));
            }
            None => {
                tracing::info!(event_type = %event.event_type, environment = %event.environment, "no webhook_url for environment; event not delivered")
            }
        }
        Box::pin(async {})
    }
}

impl<T: EventSink + ?Sized> EventSink for Arc<T> {
    fn emit(&self, event: AccountEvent) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        (**self).emit(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_vectors() {
        let a = SecretString::from("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        assert_eq!(
            sign_standard_webhook(
                &a,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            )
            .unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        let b = SecretString::from("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
        assert_eq!(
            sign_standard_webhook(
                &b,
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1649367553,
                br#"{"email":"test@example.com","username":"test_user"}"#
            )
            .unwrap(),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
        assert!(sign_standard_webhook(&SecretString::from("whsec_***"), "x", 1, b"").is_err());
    }
}
