//! Calls to an OAuth 2.0 token endpoint (refresh and authorization-code grants) and the
//! classification of its answers into the three classes the vault acts on.
//!
//! Classification follows RFC 6749 §5.2 plus the provider shapes seen in the wild: HubSpot's
//! `{"status":"BAD_REFRESH_TOKEN"}`, Slack's HTTP 200 `{"ok":false,"error":"invalid_refresh_token"}`,
//! Atlassian's 403 `invalid_grant`. Nothing from a response body other than the error code
//! reaches an error message (bodies may echo tokens).

use std::time::Duration;

use base64::Engine;
use secrecy::ExposeSecret;
use zeroize::Zeroizing;

use crate::settings::{OAuth2Settings, TokenAuth};

/// Tokens from a successful token-endpoint answer. Zeroized on drop.
pub struct TokenSet {
    /// The new access token.
    pub access_token: Zeroizing<String>,
    /// The new refresh token, if the provider rotated it (or issued one on code exchange).
    pub refresh_token: Option<Zeroizing<String>>,
    /// Lifetime of the access token.
    pub expires_in: Option<Duration>,
    /// Granted scope.
    pub scope: Option<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"[REDACTED]")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[REDACTED]"),
            )
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

/// Why a token request failed, as a class the vault acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// The grant is dead (`invalid_grant` or a listed provider variant): needs re-auth.
    Revoked {
        /// The provider's error code.
        code: String,
    },
    /// Our client is misconfigured (`invalid_client`, `unauthorized_client`, `invalid_scope`,
    /// ...): an operator must act; re-authorizing the user would not help.
    Operator {
        /// The provider's error code (or `http_<status>`).
        code: String,
    },
    /// Worth retrying: network error, timeout, 5xx, 429, `temporarily_unavailable`.
    Retryable {
        /// What happened (no secrets).
        reason: String,
        /// The provider's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenError::Revoked { code } => write!(f, "grant revoked by the provider ({code})"),
            TokenError::Operator { code } => write!(
                f,
                "token endpoint rejected the client configuration ({code})"
            ),
            TokenError::Retryable { reason, .. } => {
                write!(f, "token endpoint temporarily failed ({reason})")
            }
        }
    }
}

/// Posts a form to the token endpoint with client authentication and classifies the answer.
pub async fn request_tokens(
    http: &reqwest::Client,
    settings: &OAuth2Settings,
    params: &[(&str, &str)],
    timeout: Duration,
) -> Result<TokenSet, TokenError> {
    let mut req = http
        .post(&settings.token_url)
        .timeout(timeout)
        .header(http::header::ACCEPT, "application/json");
    if settings.token_auth == TokenAuth::Basic {
        req = req.header(http::header::AUTHORIZATION, basic_client_auth(settings)?);
    }
    let body = form_body(settings, params);
    let resp = req
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body.as_str().to_owned())
        .send()
        .await
        .map_err(|e| TokenError::Retryable {
            reason: if e.is_timeout() {
                "timeout".into()
            } else {
                "connection failed".into()
            },
            retry_after: None,
        })?;
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let bytes = Zeroizing::new(
        resp.bytes()
            .await
            .map_err(|_| TokenError::Retryable {
                reason: "response body interrupted".into(),
                retry_after,
            })?
            .to_vec(),
    );
    classify(status, retry_after, &bytes, settings)
}

/// The form body: the grant's parameters, plus the client credentials for `client_secret_post`.
fn form_body(settings: &OAuth2Settings, params: &[(&str, &str)]) -> Zeroizing<String> {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        form.append_pair(k, v);
    }
    if settings.token_auth == TokenAuth::Body {
        form.append_pair("client_id", &settings.client_id);
        form.append_pair("client_secret", settings.client_secret.expose_secret());
    }
    Zeroizing::new(form.finish())
}

/// `client_secret_basic` (RFC 6749 §2.3.1: both parts form-urlencoded before base64).
fn basic_client_auth(settings: &OAuth2Settings) -> Result<http::HeaderValue, TokenError> {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = Zeroizing::new(format!(
        "{}:{}",
        enc(&settings.client_id),
        enc(settings.client_secret.expose_secret())
    ));
    let text = Zeroizing::new(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
    ));
    let mut value = http::HeaderValue::from_str(&text).map_err(|_| TokenError::Operator {
        code: "client_credentials_not_header_safe".into(),
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// Classifies a token-endpoint answer (see the module doc).
pub fn classify(
    status: http::StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    settings: &OAuth2Settings,
) -> Result<TokenSet, TokenError> {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let error_code = json.as_ref().and_then(error_code_of);
    let slack_not_ok = json
        .as_ref()
        .and_then(|j| j.get("ok"))
        .and_then(|v| v.as_bool())
        == Some(false);

    if status.is_success() && error_code.is_none() && !slack_not_ok {
        let j = json.as_ref().ok_or(TokenError::Retryable {
            reason: "non-JSON success body".into(),
            retry_after: None,
        })?;
        let access = j
            .get("access_token")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty());
        let Some(access) = access else {
            return Err(TokenError::Operator {
                code: "no_access_token_in_response".into(),
            });
        };
        return Ok(TokenSet {
            access_token: Zeroizing::new(access.to_owned()),
            refresh_token: j
                .get("refresh_token")
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .map(|s| Zeroizing::new(s.to_owned())),
            expires_in: j
                .get("expires_in")
                .and_then(|v| {
                    v.as_u64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                })
                .map(Duration::from_secs),
            scope: j.get("scope").and_then(|v| v.as_str()).map(str::to_owned),
        });
    }

    if let Some(code) = &error_code {
        if settings.is_revocation(code) {
            return Err(TokenError::Revoked { code: code.clone() });
        }
        if matches!(code.as_str(), "server_error" | "temporarily_unavailable") {
            return Err(TokenError::Retryable {
                reason: code.clone(),
                retry_after,
            });
        }
    }
    if status.is_server_error() || status == http::StatusCode::TOO_MANY_REQUESTS {
        return Err(TokenError::Retryable {
            reason: format!("http {}", status.as_u16()),
            retry_after,
        });
    }
    Err(TokenError::Operator {
        code: error_code.unwrap_or_else(|| format!("http_{}", status.as_u16())),
    })
}

/// The error code of a token-endpoint body, whatever the provider's shape.
fn error_code_of(j: &serde_json::Value) -> Option<String> {
    let s = |v: &serde_json::Value| {
        v.as_str()
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().take(64).collect::<String>())
    };
    if let Some(code) = j.get("error").and_then(s) {
        return Some(code);
    }
    // HubSpot: {"status":"BAD_REFRESH_TOKEN","message":...}
    if j.get("access_token").is_none()
        && let Some(code) = j.get("status").and_then(s)
    {
        return Some(code);
    }
    None
}

/// `Retry-After`: delta-seconds (integer or decimal, rounded up) or an HTTP-date; clamped to
/// one hour so a hostile value cannot park a refresh forever.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    let d = if let Ok(secs) = v.parse::<u64>() {
        Duration::from_secs(secs)
    } else if let Ok(secs) = v.parse::<f64>() {
        if !(secs.is_finite() && secs >= 0.0) {
            return None;
        }
        Duration::from_secs(secs.ceil() as u64)
    } else {
        let when = httpdate::parse_http_date(v).ok()?;
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default()
    };
    Some(d.min(Duration::from_secs(3600)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode as S;

    fn settings() -> OAuth2Settings {
        let mut s = OAuth2Settings::new("id", "secret", "http://127.0.0.1:1/token");
        s.revoked_errors = vec!["BAD_REFRESH_TOKEN".into(), "invalid_refresh_token".into()];
        s
    }

    fn class(status: S, body: &str) -> Result<TokenSet, TokenError> {
        classify(status, None, body.as_bytes(), &settings())
    }

    #[test]
    fn success_keeps_fields() {
        let t = class(
            S::OK,
            r#"{"access_token":"at","refresh_token":"rt","expires_in":3600,"scope":"a b"}"#,
        )
        .unwrap();
        assert_eq!(t.access_token.as_str(), "at");
        assert_eq!(t.refresh_token.as_deref().map(String::as_str), Some("rt"));
        assert_eq!(t.expires_in, Some(Duration::from_secs(3600)));
        let t = class(S::OK, r#"{"access_token":"at","expires_in":"60"}"#).unwrap();
        assert!(t.refresh_token.is_none());
        assert_eq!(t.expires_in, Some(Duration::from_secs(60)));
    }

    #[test]
    fn revocations_by_provider() {
        for (status, body) in [
            (
                S::BAD_REQUEST,
                r#"{"error":"invalid_grant","error_description":"grant request is invalid"}"#,
            ),
            (
                S::FORBIDDEN,
                r#"{"error":"invalid_grant","error_description":"Unknown or invalid refresh token."}"#,
            ),
            (
                S::BAD_REQUEST,
                r#"{"status":"BAD_REFRESH_TOKEN","message":"missing or invalid refresh token"}"#,
            ),
            (S::OK, r#"{"ok":false,"error":"invalid_refresh_token"}"#),
        ] {
            assert!(
                matches!(class(status, body), Err(TokenError::Revoked { .. })),
                "{status} {body}"
            );
        }
    }

    #[test]
    fn operator_errors_are_not_reauth() {
        for body in [
            r#"{"error":"invalid_client"}"#,
            r#"{"error":"unauthorized_client"}"#,
            r#"{"error":"invalid_scope"}"#,
        ] {
            assert!(
                matches!(
                    class(S::BAD_REQUEST, body),
                    Err(TokenError::Operator { .. })
                ),
                "{body}"
            );
        }
        assert!(matches!(
            class(S::UNAUTHORIZED, r#"{"error":"invalid_client"}"#),
            Err(TokenError::Operator { .. })
        ));
        assert!(matches!(
            class(S::OK, r#"{"ok":false,"error":"invalid_client_id"}"#),
            Err(TokenError::Operator { .. })
        ));
        assert!(matches!(
            class(S::OK, r#"{"token_type":"bearer"}"#),
            Err(TokenError::Operator { .. })
        ));
    }

    #[test]
    fn retryable_errors() {
        let e = classify(
            S::SERVICE_UNAVAILABLE,
            Some(Duration::from_secs(7)),
            b"<html>down</html>",
            &settings(),
        )
        .unwrap_err();
        assert_eq!(
            e,
            TokenError::Retryable {
                reason: "http 503".into(),
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert!(matches!(
            class(S::TOO_MANY_REQUESTS, "{}"),
            Err(TokenError::Retryable { .. })
        ));
        assert!(matches!(
            class(S::BAD_REQUEST, r#"{"error":"temporarily_unavailable"}"#),
            Err(TokenError::Retryable { .. })
        ));
    }

    #[test]
    fn errors_never_echo_bodies() {
        let e = class(
            S::BAD_REQUEST,
            r#"{"error":"weird","refresh_token":"canary-rt-123"}"#,
        )
        .unwrap_err();
        assert!(!e.to_string().contains("canary"));
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("2.1"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("999999"), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }
}
