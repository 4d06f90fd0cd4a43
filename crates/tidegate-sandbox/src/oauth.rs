//! An OAuth 2.0 token endpoint (refresh grant, RFC 6749 §6) with refresh-token rotation, a
//! refresh counter and a "revoke" switch, so the demo and tests can show that concurrent
//! callers on an expired token cause exactly ONE refresh, and that a revoked grant is answered
//! with `invalid_grant`.
//!
//! - `POST /oauth/token` (form: `grant_type=refresh_token`, `refresh_token`, `client_id`,
//!   `client_secret`) → `200 { "access_token", "refresh_token", "token_type": "Bearer",
//!   "expires_in" }`. Each refresh token works ONCE (rotation): reusing an old one, or any
//!   refresh while revoked, answers `400 { "error": "invalid_grant" }`; wrong client
//!   credentials answer `401 { "error": "invalid_client" }`.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use tidegate_sandbox::{Sandbox, oauth::{self, OAuthServer}};
//!
//! let oauth = OAuthServer::new("demo-client", "demo-secret");
//! let grant = oauth.issue();               // tokens to store for an account
//! let sandbox = Sandbox::new().merge(oauth::router(oauth.clone()))
//!     .bind("127.0.0.1:0".parse().unwrap()).await?;
//! // ... token_url = {sandbox}/oauth/token; after traffic:
//! assert!(oauth.refreshes() <= 1);
//! oauth.revoke(true);                      // every refresh now gets invalid_grant
//! # let _ = (grant, sandbox); Ok(()) }
//! ```

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use axum::{
    Json, Router,
    extract::State,
    response::{IntoResponse, Response},
    routing::post,
};
use bytes::Bytes;
use http::StatusCode;

/// Lifetime of issued access tokens.
pub const ACCESS_TOKEN_LIFETIME_S: u64 = 3600;

/// A token pair the endpoint issued.
#[derive(Clone)]
pub struct Grant {
    /// The access token.
    pub access_token: String,
    /// The refresh token (valid once).
    pub refresh_token: String,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Grant([REDACTED])")
    }
}

/// The token endpoint's state. Cheap to clone.
#[derive(Clone, Debug)]
pub struct OAuthServer {
    client_id: Arc<str>,
    client_secret: Arc<str>,
    live_refresh_tokens: Arc<Mutex<HashSet<String>>>,
    refreshes: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
    revoked: Arc<AtomicBool>,
}

fn token(prefix: &str) -> String {
    format!("{prefix}_{}", hex::encode(rand::random::<[u8; 20]>()))
}

impl OAuthServer {
    /// An endpoint accepting these client credentials.
    pub fn new(client_id: &str, client_secret: &str) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            live_refresh_tokens: Arc::default(),
            refreshes: Arc::default(),
            refused: Arc::default(),
            revoked: Arc::default(),
        }
    }

    /// Issues a fresh grant (as an authorization-code exchange would).
    pub fn issue(&self) -> Grant {
        let grant = Grant {
            access_token: token("at"),
            refresh_token: token("rt"),
        };
        self.tokens().insert(grant.refresh_token.clone());
        grant
    }

    /// Successful refreshes so far.
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::SeqCst)
    }

    /// Refresh attempts answered with an error so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::SeqCst)
    }

    /// While `true`, every refresh answers `invalid_grant` (the user revoked the app).
    pub fn revoke(&self, revoked: bool) {
        self.revoked.store(revoked, Ordering::SeqCst);
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.live_refresh_tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn refresh(&self, form: &[(String, String)]) -> Response {
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        if field("client_id") != Some(&self.client_id)
            || field("client_secret") != Some(&self.client_secret)
        {
            return self.refuse(StatusCode::UNAUTHORIZED, "invalid_client");
        }
        if field("grant_type") != Some("refresh_token") {
            return self.refuse(StatusCode::BAD_REQUEST, "unsupported_grant_type");
        }
        let presented = field("refresh_token").unwrap_or_default();
        // Rotation: a refresh token is consumed by its first use.
        let was_live = self.tokens().remove(presented);
        if !was_live || self.revoked.load(Ordering::SeqCst) {
            return self.refuse(StatusCode::BAD_REQUEST, "invalid_grant");
        }
        let grant = self.issue();
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        Json(serde_json::json!({
            "access_token": grant.access_token,
            "refresh_token": grant.refresh_token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_LIFETIME_S,
        }))
        .into_response()
    }

    fn refuse(&self, status: StatusCode, error: &str) -> Response {
        self.refused.fetch_add(1, Ordering::SeqCst);
        (status, Json(serde_json::json!({ "error": error }))).into_response()
    }
}

/// Decodes `application/x-www-form-urlencoded` (`+` is a space, `%XX` a byte).
fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                    match hex {
                        Some(b) => {
                            out.push(b);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

async fn token_route(State(server): State<OAuthServer>, body: Bytes) -> Response {
    server.refresh(&parse_form(&body))
}

/// `POST /oauth/token`.
pub fn router(server: OAuthServer) -> Router {
    Router::new()
        .route("/oauth/token", post(token_route))
        .with_state(server)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn parses_forms_with_escapes() {
        assert_eq!(
            parse_form(b"a=b+c&d=%2Fx%3D&e"),
            form(&[("a", "b c"), ("d", "/x="), ("e", "")])
        );
    }

    #[tokio::test]
    async fn rotates_refresh_tokens_counts_and_revokes() {
        let server = OAuthServer::new("id", "secret");
        let grant = server.issue();
        let refresh = |rt: &str| {
            server.refresh(&form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("client_id", "id"),
                ("client_secret", "secret"),
            ]))
        };
        assert_eq!(refresh(&grant.refresh_token).status(), StatusCode::OK);
        assert_eq!(server.refreshes(), 1);
        // Reuse of a rotated-out token is refused.
        assert_eq!(
            refresh(&grant.refresh_token).status(),
            StatusCode::BAD_REQUEST
        );
        let fresh = server.issue();
        server.revoke(true);
        assert_eq!(
            refresh(&fresh.refresh_token).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(server.refreshes(), 1);
        assert_eq!(server.refused(), 2);
        let wrong_client = server.refresh(&form(&[("grant_type", "refresh_token")]));
        assert_eq!(wrong_client.status(), StatusCode::UNAUTHORIZED);
    }
}
