//! A "customer" endpoint that receives tidegate's outbound events and verifies their
//! Standard Webhooks signature (`webhook-id`, `webhook-timestamp`, `webhook-signature:
//! v1,<base64>`), as a customer's own service would. The demo and the CLI's binary tests use
//! it to prove that events arrive signed, once, with the right content.
//!
//! The verification is written here from the Standard Webhooks specification, independently
//! of `tidegate-events`' signer, so one checks the other.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use std::time::Duration;
//! use tidegate_sandbox::receiver::Receiver;
//!
//! let receiver = Receiver::start("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").await?;
//! // configure `webhook_url = receiver.url()` ... then:
//! let events = receiver.wait_for(Duration::from_secs(5), |e| e.iter().any(|e| e["type"] == "record.changed")).await;
//! # let _ = events; Ok(()) }
//! ```

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use aws_lc_rs::hmac;
use axum::{Router, extract::State, routing::post};
use base64::{Engine, engine::general_purpose::STANDARD as B64};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use tokio::{net::TcpListener, task::JoinHandle};

/// How far a `webhook-timestamp` may be from now (the specification's default tolerance).
const TOLERANCE: Duration = Duration::from_secs(300);

#[derive(Default)]
struct Inbox {
    verified: Vec<serde_json::Value>,
    rejected: u64,
}

#[derive(Clone)]
struct ReceiverState {
    key: Arc<Vec<u8>>,
    inbox: Arc<Mutex<Inbox>>,
}

impl ReceiverState {
    fn inbox(&self) -> std::sync::MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running receiver on a loopback port. Dropping it stops the server.
pub struct Receiver {
    addr: SocketAddr,
    state: ReceiverState,
    task: JoinHandle<()>,
}

impl Receiver {
    /// Starts a receiver on `127.0.0.1:0` verifying with `secret` (`whsec_<base64>`).
    pub async fn start(secret: &str) -> std::io::Result<Receiver> {
        let key = B64
            .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
            .map_err(|e| std::io::Error::other(format!("webhook secret is not base64: {e}")))?;
        let state = ReceiverState {
            key: Arc::new(key),
            inbox: Arc::default(),
        };
        let router = Router::new()
            .route("/events", post(receive))
            .with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Receiver { addr, state, task })
    }

    /// The URL to configure as an environment's `webhook_url`.
    pub fn url(&self) -> String {
        format!("http://{}/events", self.addr)
    }

    /// Every event whose signature verified, in arrival order.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.state.inbox().verified.clone()
    }

    /// Deliveries refused for a bad, missing or stale signature.
    pub fn rejected(&self) -> u64 {
        self.state.inbox().rejected
    }

    /// Polls (every 20 ms) until `done` holds for the verified events or `timeout` passes;
    /// returns the events either way.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        done: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let events = self.events();
            if done(&events) || tokio::time::Instant::now() >= deadline {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(state): State<ReceiverState>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let verified = verify(&state.key, &headers, &body, SystemTime::now())
        .and_then(|()| serde_json::from_slice(&body).map_err(|_| "body is not JSON"));
    let mut inbox = state.inbox();
    match verified {
        Ok(event) => {
            inbox.verified.push(event);
            StatusCode::NO_CONTENT
        }
        Err(why) => {
            tracing::warn!(why, "receiver refused an event");
            inbox.rejected += 1;
            StatusCode::UNAUTHORIZED
        }
    }
}

/// Standard Webhooks verification: HMAC-SHA256 over `{id}.{timestamp}.{body}`, any of the
/// space-separated `v1,<base64>` signatures matching, timestamp within [`TOLERANCE`].
fn verify(
    key: &[u8],
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<(), &'static str> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or("missing signature header")
    };
    let id = header("webhook-id")?;
    let ts = header("webhook-timestamp")?;
    let signatures = header("webhook-signature")?;
    let at: u64 = ts.parse().map_err(|_| "bad webhook-timestamp")?;
    let now = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if now.abs_diff(at) > TOLERANCE.as_secs() {
        return Err("stale webhook-timestamp");
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let signed = [id.as_bytes(), b".", ts.as_bytes(), b".", body].concat();
    let matches = signatures
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| B64.decode(s).ok())
        .any(|sig| hmac::verify(&key, &signed, &sig).is_ok());
    if matches {
        Ok(())
    } else {
        Err("no matching v1 signature")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::{WebhookScheme, sign_for_scheme};

    #[test]
    fn accepts_what_the_sandbox_signer_signs_and_refuses_tampering() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let key = B64.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
        let now = SystemTime::now();
        let body = br#"{"type":"record.changed"}"#;
        let headers = sign_for_scheme(
            WebhookScheme::StandardWebhooks,
            secret,
            &http::Method::POST,
            "/",
            body,
            now,
        );
        assert_eq!(verify(&key, &headers, body, now), Ok(()));
        assert!(verify(&key, &headers, br#"{"type":"x"}"#, now).is_err());
        assert!(verify(&key, &headers, body, now + Duration::from_secs(301)).is_err());
        assert!(verify(&key, &HeaderMap::new(), body, now).is_err());
    }
}
