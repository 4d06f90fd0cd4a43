//! The OAuth connect flow (CONTRACT §7): `GET /connect/{connector}` → authorize URL with
//! `state` and PKCE S256; `GET /oauth/callback` → code exchange, tokens stored, redirect back.
//!
//! The `state` is 256 random bits, stored server-side with the sealed PKCE verifier, single-use
//! (deleted atomically when taken) and expiring (`VaultOptions::connect_state_ttl`).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64URL};
use tidegate_crypto::DataKey;

use crate::{
    ConnectorAuth, Vault, VaultError,
    clock::now_ms,
    credentials::{Credentials, connect_aad, data_key_aad},
    events::AccountEvent,
    store::ConnectState,
    token_endpoint::{TokenError, request_tokens},
    vault::{is_valid_account_id, ms},
};

/// `GET /connect/{connector}` query.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct ConnectRequest {
    /// Environment the account will belong to.
    pub environment: String,
    /// Account id to create (or replace).
    pub account_id: String,
    /// Where to send the user when done.
    pub redirect_uri: String,
}

/// Where the callback sends the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectOutcome {
    /// The `redirect_uri` with `account_id` and `status` (and `code` on error) appended.
    pub location: String,
    /// The account, when the state was valid.
    pub account_id: Option<String>,
    /// `None` on success; the error code otherwise.
    pub error: Option<String>,
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    tidegate_crypto::fill_random(&mut b);
    B64URL.encode(b)
}

/// The PKCE S256 challenge of `verifier` (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    B64URL.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ))
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> Result<String, VaultError> {
    let mut url = url::Url::parse(base)
        .map_err(|_| VaultError::Invalid(format!("{base:?} is not an absolute URL")))?;
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    Ok(url.into())
}

impl Vault {
    /// Starts a connect flow: stores the state and returns the provider's authorize URL.
    /// `callback_url` is the gateway's absolute `/oauth/callback` URL.
    pub async fn begin_connect(
        &self,
        connector: &str,
        req: &ConnectRequest,
        callback_url: &str,
    ) -> Result<String, VaultError> {
        let Some(ConnectorAuth::OAuth2(oauth)) = self.connector_auth(connector) else {
            return Err(VaultError::Invalid(format!(
                "connector {connector:?} does not use OAuth"
            )));
        };
        let authorize_url = oauth.authorize_url.as_deref().ok_or_else(|| {
            VaultError::Invalid(format!("connector {connector:?} has no auth.authorize_url"))
        })?;
        if !is_valid_account_id(&req.account_id) {
            return Err(VaultError::Invalid(
                "account_id must be 1-128 characters of A-Z a-z 0-9 . _ : -".into(),
            ));
        }
        let redirect = url::Url::parse(&req.redirect_uri)
            .map_err(|_| VaultError::Invalid("redirect_uri must be an absolute URL".into()))?;
        if !matches!(redirect.scheme(), "http" | "https") {
            return Err(VaultError::Invalid("redirect_uri must be http(s)".into()));
        }
        let state = random_token();
        let verifier = zeroize::Zeroizing::new(random_token());
        let dk = DataKey::generate();
        let stored = ConnectState {
            state: state.clone(),
            connector: connector.to_owned(),
            environment: req.environment.clone(),
            account_id: req.account_id.clone(),
            redirect_uri: req.redirect_uri.clone(),
            verifier: dk.seal(&connect_aad(&state), verifier.as_bytes()),
            wrapped_key: self.inner.keys.current().wrap(&dk, &data_key_aad(&state)),
            expires_at: now_ms() + ms(self.inner.opts.connect_state_ttl),
        };
        self.inner.store.put_connect_state(&stored).await?;
        let scope = oauth.scopes.join(" ");
        let challenge = pkce_challenge(&verifier);
        let mut pairs = vec![
            ("response_type", "code"),
            ("client_id", oauth.client_id.as_str()),
            ("redirect_uri", callback_url),
            ("state", state.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        if !scope.is_empty() {
            pairs.push(("scope", scope.as_str()));
        }
        with_query(authorize_url, &pairs)
    }

    /// Completes a connect flow from the callback's query (`state`, and `code` or `error`).
    /// An unknown, reused or expired `state` is an [`VaultError::Invalid`] (there is no
    /// trustworthy `redirect_uri` to send the user to).
    pub async fn complete_connect(
        &self,
        state: &str,
        code: Option<&str>,
        provider_error: Option<&str>,
        callback_url: &str,
    ) -> Result<ConnectOutcome, VaultError> {
        let st = self
            .inner
            .store
            .take_connect_state(state, now_ms())
            .await?
            .ok_or_else(|| VaultError::Invalid("unknown, used or expired OAuth state".into()))?;
        let fail = |code: &str| -> Result<ConnectOutcome, VaultError> {
            Ok(ConnectOutcome {
                location: with_query(
                    &st.redirect_uri,
                    &[
                        ("account_id", &st.account_id),
                        ("status", "error"),
                        ("code", code),
                    ],
                )?,
                account_id: Some(st.account_id.clone()),
                error: Some(code.to_owned()),
            })
        };
        if let Some(err) = provider_error {
            let code: String = err
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(64)
                .collect();
            return fail(if code.is_empty() {
                "access_denied"
            } else {
                &code
            });
        }
        let Some(code) = code.filter(|c| !c.is_empty()) else {
            return fail("missing_code");
        };
        let Some(ConnectorAuth::OAuth2(oauth)) = self.connector_auth(&st.connector).cloned() else {
            return fail("connector_not_oauth");
        };
        let dk = self
            .inner
            .keys
            .unwrap(&st.wrapped_key, &data_key_aad(&st.state))?;
        let verifier = dk.open(&connect_aad(&st.state), &st.verifier)?;
        let verifier = std::str::from_utf8(&verifier)
            .map_err(|_| VaultError::Invalid("corrupt PKCE verifier".into()))?;
        let params = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", callback_url),
            ("code_verifier", verifier),
        ];
        let tokens = match request_tokens(
            &self.inner.http,
            &oauth,
            &params,
            self.inner.opts.token_timeout,
        )
        .await
        {
            Ok(t) => t,
            Err(TokenError::Revoked { code } | TokenError::Operator { code }) => {
                return fail(&code);
            }
            Err(TokenError::Retryable { .. }) => return fail("temporarily_unavailable"),
        };
        let creds = Credentials::OAuth2 {
            access_token: tokens.access_token.to_string(),
            refresh_token: tokens.refresh_token.as_ref().map(|t| t.to_string()),
            scope: tokens.scope.clone(),
        };
        let expires_at = tokens.expires_in.map(|d| now_ms() + ms(d));
        let (_, info) = self
            .store_credentials(
                &st.account_id,
                &st.connector,
                &st.environment,
                &creds,
                expires_at,
            )
            .await?;
        self.emit(AccountEvent::new(
            "account.connected",
            &info.environment,
            &info.connector,
            &info.id,
            serde_json::json!({ "expires_at": info.expires_at }),
        ))
        .await;
        Ok(ConnectOutcome {
            location: with_query(
                &st.redirect_uri,
                &[("account_id", &st.account_id), ("status", "connected")],
            )?,
            account_id: Some(st.account_id.clone()),
            error: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_rfc7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
