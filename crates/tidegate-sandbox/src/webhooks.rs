//! Signed webhooks the way providers send them, so the demo and tests can drive tidegate's
//! inbound path (`POST /webhooks/{connector}/{account}`) end to end.
//!
//! This signer is written separately from `tidegate-events`' verifiers (from the providers'
//! documented algorithms), so a test where one accepts what the other produced checks two
//! implementations against each other rather than one against itself.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::SystemTime;
//! use tidegate_sandbox::webhooks::{WebhookScheme, fire};
//!
//! let body = br#"{"id":"evt_1","data":{"id":"42"}}"#;
//! let status = fire("http://127.0.0.1:4000/webhooks/crm/acc_1", WebhookScheme::StandardWebhooks,
//!                   "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", body, SystemTime::now()).await?;
//! assert_eq!(status, 202);
//! # Ok(()) }
//! ```
//!
//! Route (merge [`router`] into the sandbox): `POST /_sandbox/webhooks/fire` with
//! `{ "url", "scheme", "secret", "body" }` fires one signed webhook and answers
//! `{ "status": <the target's status> }`.

use std::{str::FromStr, time::SystemTime};

use aws_lc_rs::{digest, hmac};
use axum::{Json, Router, routing::post};
use base64::{Engine, engine::general_purpose::STANDARD as B64};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use serde::Deserialize;

/// A provider signature scheme (the names of `webhooks.verify`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookScheme {
    /// Standard Webhooks `v1`.
    StandardWebhooks,
    /// Stripe `t=,v1=`.
    Stripe,
    /// GitHub `sha256=`.
    Github,
    /// Shopify base64 HMAC of the body.
    Shopify,
    /// Slack `v0=` over `v0:{ts}:{body}`.
    Slack,
    /// HubSpot v3.
    HubspotV3,
    /// HubSpot v2 (SHA-256 of secret+method+uri+body).
    HubspotV2,
    /// HubSpot v1 (SHA-256 of secret+body).
    HubspotV1,
    /// Zendesk (timestamp + body).
    Zendesk,
    /// Intercom `sha1=`.
    Intercom,
    /// Xero base64 HMAC of the body.
    Xero,
    /// Jira `sha256=` in `X-Hub-Signature`.
    Jira,
    /// QuickBooks `intuit-signature`.
    QuickBooks,
}

impl WebhookScheme {
    /// Every scheme.
    pub const ALL: [WebhookScheme; 13] = [
        Self::StandardWebhooks,
        Self::Stripe,
        Self::Github,
        Self::Shopify,
        Self::Slack,
        Self::HubspotV3,
        Self::HubspotV2,
        Self::HubspotV1,
        Self::Zendesk,
        Self::Intercom,
        Self::Xero,
        Self::Jira,
        Self::QuickBooks,
    ];

    /// The `webhooks.verify` name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::StandardWebhooks => "standard-webhooks",
            Self::Stripe => "stripe",
            Self::Github => "github",
            Self::Shopify => "shopify",
            Self::Slack => "slack",
            Self::HubspotV3 => "hubspot-v3",
            Self::HubspotV2 => "hubspot-v2",
            Self::HubspotV1 => "hubspot-v1",
            Self::Zendesk => "zendesk",
            Self::Intercom => "intercom",
            Self::Xero => "xero",
            Self::Jira => "jira",
            Self::QuickBooks => "quickbooks",
        }
    }
}

impl FromStr for WebhookScheme {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| format!("unknown scheme {s:?}"))
    }
}

fn mac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut c = hmac::Context::with_key(&k);
    for p in parts {
        c.update(p);
    }
    c.sign().as_ref().to_vec()
}

fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    let mut c = digest::Context::new(&digest::SHA256);
    for p in parts {
        c.update(p);
    }
    c.finish().as_ref().to_vec()
}

fn unix(now: SystemTime) -> u64 {
    now.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn put(h: &mut HeaderMap, name: &'static str, value: String) {
    h.insert(
        name,
        HeaderValue::from_str(&value).expect("signature headers are ASCII"),
    );
}

/// The headers a provider using `scheme` would send for `body` at `now`. `method` and `url`
/// matter only for HubSpot v2/v3, which sign them (pass the exact URL you POST to).
pub fn sign_for_scheme(
    scheme: WebhookScheme,
    secret: &str,
    method: &Method,
    url: &str,
    body: &[u8],
    now: SystemTime,
) -> HeaderMap {
    let mut h = HeaderMap::new();
    let ts = unix(now);
    let s = secret.as_bytes();
    match scheme {
        WebhookScheme::StandardWebhooks => {
            let key = B64
                .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
                .unwrap_or_else(|_| s.to_vec());
            let id = format!("msg_{:x}", rand::random::<u64>());
            let sig = mac(
                &key,
                &[id.as_bytes(), b".", ts.to_string().as_bytes(), b".", body],
            );
            put(&mut h, "webhook-id", id);
            put(&mut h, "webhook-timestamp", ts.to_string());
            put(
                &mut h,
                "webhook-signature",
                format!("v1,{}", B64.encode(sig)),
            );
        }
        WebhookScheme::Stripe => {
            let sig = mac(s, &[ts.to_string().as_bytes(), b".", body]);
            put(
                &mut h,
                "stripe-signature",
                format!("t={ts},v1={}", hex::encode(sig)),
            );
        }
        WebhookScheme::Github => {
            put(
                &mut h,
                "x-hub-signature-256",
                format!("sha256={}", hex::encode(mac(s, &[body]))),
            );
            put(
                &mut h,
                "x-github-delivery",
                format!("{:x}", rand::random::<u128>()),
            );
        }
        WebhookScheme::Jira => {
            put(
                &mut h,
                "x-hub-signature",
                format!("sha256={}", hex::encode(mac(s, &[body]))),
            );
            put(
                &mut h,
                "x-atlassian-webhook-identifier",
                format!("{}", rand::random::<u32>()),
            );
        }
        WebhookScheme::Shopify => {
            put(&mut h, "x-shopify-hmac-sha256", B64.encode(mac(s, &[body])));
            put(
                &mut h,
                "x-shopify-webhook-id",
                format!("{:x}", rand::random::<u128>()),
            );
        }
        WebhookScheme::Xero => put(&mut h, "x-xero-signature", B64.encode(mac(s, &[body]))),
        WebhookScheme::QuickBooks => put(&mut h, "intuit-signature", B64.encode(mac(s, &[body]))),
        WebhookScheme::Slack => {
            let sig = mac(s, &[b"v0:", ts.to_string().as_bytes(), b":", body]);
            put(&mut h, "x-slack-request-timestamp", ts.to_string());
            put(
                &mut h,
                "x-slack-signature",
                format!("v0={}", hex::encode(sig)),
            );
        }
        WebhookScheme::HubspotV3 => {
            let ms = (ts * 1000).to_string();
            let sig = mac(
                s,
                &[
                    method.as_str().as_bytes(),
                    url.as_bytes(),
                    body,
                    ms.as_bytes(),
                ],
            );
            put(&mut h, "x-hubspot-request-timestamp", ms);
            put(&mut h, "x-hubspot-signature-v3", B64.encode(sig));
        }
        WebhookScheme::HubspotV2 => {
            let sig = sha256(&[s, method.as_str().as_bytes(), url.as_bytes(), body]);
            put(&mut h, "x-hubspot-signature", hex::encode(sig));
            put(&mut h, "x-hubspot-signature-version", "v2".into());
        }
        WebhookScheme::HubspotV1 => {
            put(
                &mut h,
                "x-hubspot-signature",
                hex::encode(sha256(&[s, body])),
            );
            put(&mut h, "x-hubspot-signature-version", "v1".into());
        }
        WebhookScheme::Zendesk => {
            let stamp = httpdate_rfc3339(now);
            put(
                &mut h,
                "x-zendesk-webhook-signature",
                B64.encode(mac(s, &[stamp.as_bytes(), body])),
            );
            put(&mut h, "x-zendesk-webhook-signature-timestamp", stamp);
        }
        WebhookScheme::Intercom => {
            let k = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, s);
            put(
                &mut h,
                "x-hub-signature",
                format!("sha1={}", hex::encode(hmac::sign(&k, body))),
            );
        }
    }
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h
}

/// `YYYY-MM-DDTHH:MM:SSZ` (Zendesk's timestamp form) without a date crate.
fn httpdate_rfc3339(now: SystemTime) -> String {
    let secs = unix(now);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Why a webhook could not be fired.
#[derive(Debug)]
pub struct FireError(String);

impl std::fmt::Display for FireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "firing webhook failed: {}", self.0)
    }
}

impl std::error::Error for FireError {}

/// POSTs `body` to `url` signed with `scheme`; returns the target's status.
pub async fn fire(
    url: &str,
    scheme: WebhookScheme,
    secret: &str,
    body: &[u8],
    now: SystemTime,
) -> Result<StatusCode, FireError> {
    let headers = sign_for_scheme(scheme, secret, &Method::POST, url, body, now);
    let mut req = Request::post(url)
        .body(Full::new(Bytes::copy_from_slice(body)))
        .map_err(|e| FireError(e.to_string()))?;
    *req.headers_mut() = headers;
    let client = Client::builder(TokioExecutor::new()).build_http();
    let resp = client
        .request(req)
        .await
        .map_err(|e| FireError(e.to_string()))?;
    let status = resp.status();
    let _ = resp.into_body().collect().await;
    Ok(status)
}

#[derive(Deserialize)]
struct FireRequest {
    url: String,
    scheme: String,
    secret: String,
    body: String,
}

async fn fire_route(Json(req): Json<FireRequest>) -> (StatusCode, Json<serde_json::Value>) {
    let scheme = match req.scheme.parse::<WebhookScheme>() {
        Ok(s) => s,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({ "error": e })),
            );
        }
    };
    match fire(
        &req.url,
        scheme,
        &req.secret,
        req.body.as_bytes(),
        SystemTime::now(),
    )
    .await
    {
        Ok(status) => (
            StatusCode::OK,
            Json(serde_json::json!({ "status": status.as_u16() })),
        ),
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            Json(serde_json::json!({ "error": e.to_string() })),
        ),
    }
}

/// `POST /_sandbox/webhooks/fire`.
pub fn router() -> Router {
    Router::new().route("/_sandbox/webhooks/fire", post(fire_route))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn matches_published_vectors() {
        let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let h = sign_for_scheme(
            WebhookScheme::Github,
            "It's a Secret to Everybody",
            &Method::POST,
            "/",
            b"Hello, World!",
            at(0),
        );
        assert_eq!(
            h["x-hub-signature-256"],
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let h = sign_for_scheme(
            WebhookScheme::Slack,
            "8f742231b10e8888abcd99yyyzzz85a5",
            &Method::POST,
            "/",
            body.as_bytes(),
            at(1531420618),
        );
        assert_eq!(
            h["x-slack-signature"],
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
        let h = sign_for_scheme(
            WebhookScheme::HubspotV2,
            "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
            &Method::GET,
            "https://www.example.com/webhook_uri",
            b"",
            at(0),
        );
        assert_eq!(
            h["x-hubspot-signature"],
            "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"
        );
        assert_eq!(httpdate_rfc3339(at(1_795_946_400)), "2026-11-29T10:00:00Z");
        for s in WebhookScheme::ALL {
            assert_eq!(s.name().parse::<WebhookScheme>().unwrap(), s);
        }
    }
}
