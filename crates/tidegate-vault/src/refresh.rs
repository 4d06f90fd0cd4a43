//! The refresh protocol of one account, run inside a coalesced flight:
//!
//! 1. read the store; skip if the token does not need refreshing (or the account is dead);
//! 2. take the account's lock (local or Redis, owner token + TTL);
//! 3. **re-read** the store under the lock: another process may have refreshed meanwhile;
//! 4. check the lock is still ours right before calling the provider (a holder that stalled
//!    past its TTL must not spend a refresh token someone else may already have rotated);
//! 5. call the token endpoint (bounded retries with backoff, honouring `Retry-After`);
//! 6. persist with a compare-and-swap on the version read in step 3 (the fence: a stale
//!    holder's write is rejected) BEFORE any caller sees the new access token;
//! 7. on a revocation, re-read once more (another process may have rotated), then mark the
//!    account `needs_reauth` and emit `account.needs_reauth`.

use std::{sync::Arc, sync::atomic::Ordering, time::Duration};

use backon::BackoffBuilder;

use crate::{
    clock::now_ms,
    credential::Credential,
    credentials::{Credentials, data_key_aad, open_with, seal_with},
    error::VaultError,
    events::AccountEvent,
    lock::{self, LockGuard},
    settings::{ConnectorAuth, OAuth2Settings},
    store::{AccountRecord, AccountStatus},
    token_endpoint::{TokenError, TokenSet, request_tokens},
    vault::{CacheEntry, Inner, Vault, ms},
};

/// Why a flight was started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Request path: refresh only if expired or within `expiry_buffer`.
    Expiring,
    /// Background refresher: refresh if within `window_ms` of expiry.
    Proactive { window_ms: i64 },
    /// Refresh now, unless the stored version moved past `stale_version` (someone else already
    /// replaced the token we were told is bad).
    Force { stale_version: Option<i64> },
}

impl Mode {
    fn wants_refresh(self, rec: &AccountRecord, now: i64, buffer_ms: i64) -> bool {
        match self {
            Mode::Expiring => rec.expires_at.is_some_and(|e| e - now <= buffer_ms),
            Mode::Proactive { window_ms } => rec.expires_at.is_some_and(|e| e - now <= window_ms),
            Mode::Force {
                stale_version: Some(v),
            } => rec.version == v,
            Mode::Force {
                stale_version: None,
            } => true,
        }
    }
}

/// Entry point of a flight.
pub(crate) async fn obtain(
    inner: Arc<Inner>,
    id: String,
    mode: Mode,
) -> Result<Arc<Credential>, VaultError> {
    let rec = inner
        .store
        .get(&id)
        .await?
        .ok_or(VaultError::UnknownAccount)?;
    if rec.status == AccountStatus::NeedsReauth {
        return Err(remember_dead(&inner, &rec));
    }
    let oauth = match inner.connectors.get(&rec.connector) {
        Some(ConnectorAuth::OAuth2(s)) => s.clone(),
        Some(_) => return usable(&inner, &rec),
        None => {
            return Err(VaultError::Config(format!(
                "account {id} names connector {:?}, which is not configured",
                rec.connector
            )));
        }
    };
    let buffer = ms(inner.opts.expiry_buffer);
    if !mode.wants_refresh(&rec, now_ms(), buffer) {
        return usable(&inner, &rec);
    }
    let key = format!("{}{}", inner.opts.lock_prefix, id);
    let ttl = inner.opts.lock_ttl();
    let Some(guard) = lock::acquire(&inner.lock, &key, ttl, ttl + Duration::from_secs(1)).await?
    else {
        // The holder outlived its own TTL's worth of waiting: take whatever is stored now.
        let rec = inner
            .store
            .get(&id)
            .await?
            .ok_or(VaultError::UnknownAccount)?;
        if rec.status == AccountStatus::Active && !Mode::Expiring.wants_refresh(&rec, now_ms(), 0) {
            return usable(&inner, &rec);
        }
        return Err(VaultError::RefreshFailed {
            reason: "refresh lock busy".into(),
            retry_after: Some(Duration::from_secs(1)),
        });
    };
    let result = refresh_locked(&inner, &guard, &id, mode, &oauth).await;
    guard.release().await;
    result
}

async fn refresh_locked(
    inner: &Arc<Inner>,
    guard: &LockGuard,
    id: &str,
    mode: Mode,
    oauth: &OAuth2Settings,
) -> Result<Arc<Credential>, VaultError> {
    let rec = inner
        .store
        .get(id)
        .await?
        .ok_or(VaultError::UnknownAccount)?;
    if rec.status == AccountStatus::NeedsReauth {
        return Err(remember_dead(inner, &rec));
    }
    if !mode.wants_refresh(&rec, now_ms(), ms(inner.opts.expiry_buffer)) {
        return usable(inner, &rec); // another process refreshed while we waited
    }
    inner.hooks.before_token_call(id).await;
    if !guard.is_held().await {
        // We stalled past the TTL: someone else may own the refresh now. Never spend the
        // refresh token without the lock; take what is stored.
        tracing::warn!(
            account = id,
            "refresh lock lost before the token call; not refreshing"
        );
        let now = inner
            .store
            .get(id)
            .await?
            .ok_or(VaultError::UnknownAccount)?;
        if now.version != rec.version {
            return match now.status {
                AccountStatus::Active => usable(inner, &now),
                AccountStatus::NeedsReauth => Err(remember_dead(inner, &now)),
            };
        }
        return Err(VaultError::RefreshFailed {
            reason: "refresh lock expired".into(),
            retry_after: Some(Duration::from_secs(1)),
        });
    }

    let dk = inner.keys.unwrap(&rec.wrapped_key, &data_key_aad(id))?;
    let creds = open_with(&dk, id, &rec.credentials)?;
    let (refresh_token, old_scope) = match &creds {
        Credentials::OAuth2 {
            refresh_token,
            scope,
            ..
        } => (refresh_token.clone(), scope.clone()),
        _ => {
            return Err(VaultError::Config(format!(
                "account {id} has non-OAuth credentials but an OAuth connector"
            )));
        }
    };
    let Some(refresh_token) = refresh_token.map(zeroize::Zeroizing::new) else {
        return mark_dead(inner, &rec, "no_refresh_token").await;
    };

    match call_with_retries(inner, oauth, &refresh_token).await {
        Ok(tokens) => {
            tidegate_observe::metrics::token_refresh(&rec.connector, "ok");
            persist(inner, id, rec, &dk, tokens, refresh_token, old_scope).await
        }
        Err(TokenError::Revoked { code }) => {
            // A revocation right after another process rotated the token is a race, not death.
            let now = inner
                .store
                .get(id)
                .await?
                .ok_or(VaultError::UnknownAccount)?;
            if now.version != rec.version {
                return match now.status {
                    AccountStatus::Active => usable(inner, &now),
                    AccountStatus::NeedsReauth => Err(remember_dead(inner, &now)),
                };
            }
            mark_dead(inner, &rec, &code).await
        }
        Err(TokenError::Operator { code }) => {
            tidegate_observe::metrics::token_refresh(&rec.connector, "failed");
            tracing::error!(account = id, connector = %rec.connector, code = %code,
                "token endpoint rejected the client; fix the connector's OAuth client configuration");
            Vault {
                inner: inner.clone(),
            }
            .emit(AccountEvent::new(
                "account.refresh_failed",
                &rec.environment,
                &rec.connector,
                id,
                serde_json::json!({ "class": "client_misconfigured", "code": code }),
            ))
            .await;
            Err(VaultError::ClientMisconfigured { code })
        }
        Err(TokenError::Retryable {
            reason,
            retry_after,
        }) => {
            tidegate_observe::metrics::token_refresh(&rec.connector, "failed");
            Err(VaultError::RefreshFailed {
                reason,
                retry_after,
            })
        }
    }
}

/// Token-endpoint call with bounded exponential backoff (jittered), honouring `Retry-After`
/// when it fits the budget; a longer `Retry-After` is handed to the caller instead.
async fn call_with_retries(
    inner: &Arc<Inner>,
    oauth: &OAuth2Settings,
    refresh_token: &str,
) -> Result<TokenSet, TokenError> {
    let mut backoff = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(2))
        .with_max_times(inner.opts.token_attempts.saturating_sub(1))
        .with_jitter()
        .build();
    let params = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    loop {
        inner.stats.token_calls.fetch_add(1, Ordering::Relaxed);
        match request_tokens(&inner.http, oauth, &params, inner.opts.token_timeout).await {
            Err(TokenError::Retryable {
                reason,
                retry_after,
            }) => {
                let Some(delay) = backoff.next() else {
                    return Err(TokenError::Retryable {
                        reason,
                        retry_after,
                    });
                };
                let wait = retry_after.map_or(delay, |ra| ra.max(delay));
                if wait > Duration::from_secs(5) {
                    return Err(TokenError::Retryable {
                        reason,
                        retry_after: Some(wait),
                    });
                }
                tracing::warn!(reason = %reason, wait_ms = wait.as_millis() as u64, "token refresh failed; retrying");
                tokio::time::sleep(wait).await;
            }
            other => return other,
        }
    }
}

async fn persist(
    inner: &Arc<Inner>,
    id: &str,
    rec: AccountRecord,
    dk: &tidegate_crypto::DataKey,
    tokens: TokenSet,
    old_refresh_token: zeroize::Zeroizing<String>,
    old_scope: Option<String>,
) -> Result<Arc<Credential>, VaultError> {
    let now = now_ms();
    let creds = Credentials::OAuth2 {
        access_token: tokens.access_token.to_string(),
        // Keep the old refresh token when the provider did not rotate it.
        refresh_token: Some(
            tokens
                .refresh_token
                .as_ref()
                .map_or_else(|| old_refresh_token.to_string(), |t| t.to_string()),
        ),
        scope: tokens.scope.clone().or(old_scope),
    };
    let mut next = rec.clone();
    next.credentials = seal_with(dk, id, &creds);
    next.expires_at = tokens.expires_in.map(|d| now + ms(d));
    next.last_refreshed_at = Some(now);
    next.refresh_count += 1;
    next.status = AccountStatus::Active;
    next.status_reason = None;
    inner.hooks.before_store_write(id).await;
    if !inner.store.compare_and_swap(&next, rec.version).await? {
        inner
            .stats
            .stale_writes_rejected
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            account = id,
            "refresh result rejected by the version check (a newer write exists); using the stored token"
        );
        let cur = inner
            .store
            .get(id)
            .await?
            .ok_or(VaultError::UnknownAccount)?;
        return match cur.status {
            AccountStatus::Active => usable(inner, &cur),
            AccountStatus::NeedsReauth => Err(remember_dead(inner, &cur)),
        };
    }
    next.version = rec.version + 1;
    inner.stats.refreshes.fetch_add(1, Ordering::Relaxed);
    let cred = cache_usable(inner, &next, creds);
    Vault { inner: inner.clone() }
        .emit(AccountEvent::new(
            "account.refreshed",
            &next.environment,
            &next.connector,
            id,
            serde_json::json!({ "expires_at": next.expires_at.map(crate::clock::rfc3339), "refresh_count": next.refresh_count }),
        ))
        .await;
    Ok(cred)
}

/// Marks the account `needs_reauth` (fenced by version) and emits the event once.
async fn mark_dead(
    inner: &Arc<Inner>,
    rec: &AccountRecord,
    code: &str,
) -> Result<Arc<Credential>, VaultError> {
    let mut dead = rec.clone();
    dead.status = AccountStatus::NeedsReauth;
    dead.status_reason = Some(code.to_owned());
    if inner.store.compare_and_swap(&dead, rec.version).await? {
        tracing::warn!(account = %rec.id, connector = %rec.connector, code, "grant revoked; account needs re-authorization");
        tidegate_observe::metrics::token_refresh(&rec.connector, "revoked");
        let vault = Vault {
            inner: inner.clone(),
        };
        vault.update_account_metrics_quietly().await;
        vault
            .emit(AccountEvent::new(
                "account.needs_reauth",
                &rec.environment,
                &rec.connector,
                &rec.id,
                serde_json::json!({ "reason": code }),
            ))
            .await;
        return Err(remember_dead(inner, &dead));
    }
    let cur = inner
        .store
        .get(&rec.id)
        .await?
        .ok_or(VaultError::UnknownAccount)?;
    match cur.status {
        AccountStatus::Active => usable(inner, &cur),
        AccountStatus::NeedsReauth => Err(remember_dead(inner, &cur)),
    }
}

/// Caches a `needs_reauth` answer briefly, and returns the error.
fn remember_dead(inner: &Inner, rec: &AccountRecord) -> VaultError {
    let reason = rec
        .status_reason
        .clone()
        .unwrap_or_else(|| "revoked".into());
    inner.cache.write().expect("cache poisoned").insert(
        rec.id.clone(),
        CacheEntry::NeedsReauth {
            reason: reason.clone(),
            connector: rec.connector.clone(),
            environment: rec.environment.clone(),
            until_ms: now_ms() + ms(inner.opts.negative_cache_ttl),
        },
    );
    VaultError::NeedsReauth { reason }
}

/// Decrypts a stored, active record into the cache.
pub(crate) fn usable(inner: &Inner, rec: &AccountRecord) -> Result<Arc<Credential>, VaultError> {
    let dk = inner
        .keys
        .unwrap(&rec.wrapped_key, &data_key_aad(&rec.id))?;
    let creds = open_with(&dk, &rec.id, &rec.credentials)?;
    Ok(cache_usable(inner, rec, creds))
}

fn cache_usable(inner: &Inner, rec: &AccountRecord, creds: Credentials) -> Arc<Credential> {
    let now = now_ms();
    let ttl_until = now + ms(inner.opts.cache_ttl);
    let valid_until_ms = match rec.expires_at {
        Some(e) => (e - ms(inner.opts.expiry_buffer)).min(ttl_until),
        None => ttl_until,
    };
    let cred = Arc::new(Credential {
        account_id: rec.id.clone(),
        connector: rec.connector.clone(),
        environment: rec.environment.clone(),
        version: rec.version,
        expires_at: rec.expires_at,
        secret: creds,
    });
    inner.cache.write().expect("cache poisoned").insert(
        rec.id.clone(),
        CacheEntry::Usable {
            cred: cred.clone(),
            valid_until_ms,
        },
    );
    cred
}
