//! A decrypted, ready-to-inject credential, shared from the in-memory cache.

use std::fmt;

use base64::Engine;
use http::HeaderValue;

use crate::{credentials::Credentials, settings::ConnectorAuth};

/// A usable credential of one account, as cached in memory. Zeroized on drop (its
/// [`Credentials`] are); `Debug` prints no secret.
pub struct Credential {
    /// The account.
    pub account_id: String,
    /// The account's connector.
    pub connector: String,
    /// The account's environment.
    pub environment: String,
    /// The store version this credential was read from (for 401 → refresh-once logic).
    pub version: i64,
    /// Access-token expiry (unix ms), when known.
    pub expires_at: Option<i64>,
    pub(crate) secret: Credentials,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("account_id", &self.account_id)
            .field("connector", &self.connector)
            .field("version", &self.version)
            .field("expires_at", &self.expires_at)
            .field("secret", &self.secret)
            .finish()
    }
}

impl Credential {
    /// Whether this is an OAuth credential (eligible for refresh-and-retry on a 401).
    pub fn is_oauth2(&self) -> bool {
        matches!(self.secret, Credentials::OAuth2 { .. })
    }

    /// Runs `f` with the bearer access token, if this is an OAuth credential. The token never
    /// leaves the closure as an owned value.
    pub fn with_access_token<R>(&self, f: impl FnOnce(&str) -> R) -> Option<R> {
        match &self.secret {
            Credentials::OAuth2 { access_token, .. } => Some(f(access_token)),
            _ => None,
        }
    }

    /// Injects this credential into `req` as `auth` prescribes: `Authorization: Bearer` (oauth2,
    /// and api_key by default), a custom api-key header or query parameter, or HTTP Basic.
    /// Injected header values are marked sensitive (never logged by hyper/tower-http).
    pub fn inject<B>(
        &self,
        auth: &ConnectorAuth,
        req: &mut http::Request<B>,
    ) -> Result<(), InjectError> {
        match (&self.secret, auth) {
            (Credentials::OAuth2 { access_token, .. }, _) => {
                set_header(req, http::header::AUTHORIZATION, "Bearer ", access_token)
            }
            (
                Credentials::ApiKey { api_key },
                ConnectorAuth::ApiKey {
                    header,
                    query,
                    prefix,
                },
            ) => {
                if let Some(param) = query.as_deref().filter(|_| header.is_none()) {
                    return add_query(req, param, api_key);
                }
                match header.as_deref() {
                    None => set_header(
                        req,
                        http::header::AUTHORIZATION,
                        prefix.as_deref().unwrap_or("Bearer "),
                        api_key,
                    ),
                    Some(h) => {
                        let name = http::HeaderName::try_from(h)
                            .map_err(|_| InjectError("api_key header name is invalid"))?;
                        let default_prefix = if name == http::header::AUTHORIZATION {
                            "Bearer "
                        } else {
                            ""
                        };
                        set_header(
                            req,
                            name,
                            prefix.as_deref().unwrap_or(default_prefix),
                            api_key,
                        )
                    }
                }
            }
            (Credentials::ApiKey { api_key }, _) => {
                set_header(req, http::header::AUTHORIZATION, "Bearer ", api_key)
            }
            (Credentials::Basic { username, password }, _) => {
                let raw = zeroize::Zeroizing::new(format!("{username}:{password}"));
                let enc = zeroize::Zeroizing::new(
                    base64::engine::general_purpose::STANDARD.encode(raw.as_bytes()),
                );
                set_header(req, http::header::AUTHORIZATION, "Basic ", &enc)
            }
            (Credentials::None, _) => Ok(()),
        }
    }
}

/// A stored credential cannot be expressed in a request (e.g. a token with a newline).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("credential cannot be injected: {0}")]
pub struct InjectError(pub &'static str);

fn set_header<B>(
    req: &mut http::Request<B>,
    name: http::HeaderName,
    prefix: &str,
    secret: &str,
) -> Result<(), InjectError> {
    let text = zeroize::Zeroizing::new(format!("{prefix}{secret}"));
    let mut value = HeaderValue::from_str(&text)
        .map_err(|_| InjectError("stored credential is not a valid header value"))?;
    value.set_sensitive(true);
    req.headers_mut().insert(name, value);
    Ok(())
}

fn add_query<B>(req: &mut http::Request<B>, param: &str, secret: &str) -> Result<(), InjectError> {
    let uri = req.uri().clone();
    let mut parts = uri.into_parts();
    let (path, query) = match &parts.path_and_query {
        Some(pq) => (pq.path().to_owned(), pq.query().map(str::to_owned)),
        None => ("/".to_owned(), None),
    };
    let mut ser = form_urlencoded::Serializer::new(String::new());
    ser.append_pair(param, secret);
    let added = zeroize::Zeroizing::new(ser.finish());
    let pq = match query {
        Some(q) if !q.is_empty() => format!("{path}?{q}&{}", added.as_str()),
        _ => format!("{path}?{}", added.as_str()),
    };
    parts.path_and_query = Some(
        pq.parse()
            .map_err(|_| InjectError("query with api key is not a valid URI"))?,
    );
    *req.uri_mut() = http::Uri::from_parts(parts)
        .map_err(|_| InjectError("query with api key is not a valid URI"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(secret: Credentials) -> Credential {
        Credential {
            account_id: "a".into(),
            connector: "c".into(),
            environment: "e".into(),
            version: 1,
            expires_at: None,
            secret,
        }
    }

    #[test]
    fn injects_each_kind() {
        let mut req = http::Request::new(());
        cred(Credentials::OAuth2 {
            access_token: "at1".into(),
            refresh_token: None,
            scope: None,
        })
        .inject(&ConnectorAuth::None, &mut req)
        .unwrap();
        assert_eq!(req.headers()["authorization"], "Bearer at1");
        assert!(req.headers()["authorization"].is_sensitive());

        let key = cred(Credentials::ApiKey {
            api_key: "k 1".into(),
        });
        let mut req = http::Request::new(());
        key.inject(
            &ConnectorAuth::ApiKey {
                header: None,
                query: None,
                prefix: None,
            },
            &mut req,
        )
        .unwrap();
        assert_eq!(req.headers()["authorization"], "Bearer k 1");
        let mut req = http::Request::new(());
        key.inject(
            &ConnectorAuth::ApiKey {
                header: Some("X-Api-Key".into()),
                query: None,
                prefix: None,
            },
            &mut req,
        )
        .unwrap();
        assert_eq!(req.headers()["x-api-key"], "k 1");
        let mut req = http::Request::builder()
            .uri("https://h/p?a=1")
            .body(())
            .unwrap();
        key.inject(
            &ConnectorAuth::ApiKey {
                header: None,
                query: Some("api_key".into()),
                prefix: None,
            },
            &mut req,
        )
        .unwrap();
        assert_eq!(req.uri().to_string(), "https://h/p?a=1&api_key=k+1");

        let mut req = http::Request::new(());
        cred(Credentials::Basic {
            username: "u".into(),
            password: "p".into(),
        })
        .inject(&ConnectorAuth::Basic, &mut req)
        .unwrap();
        assert_eq!(req.headers()["authorization"], "Basic dTpw");
    }

    #[test]
    fn debug_hides_secret() {
        let c = cred(Credentials::OAuth2 {
            access_token: "canary-at".into(),
            refresh_token: Some("canary-rt".into()),
            scope: None,
        });
        assert!(!format!("{c:?}").contains("canary"));
    }
}
