//! Section 2, OAuth token lifecycle: per connector the proactive refresh window, how refreshes
//! are serialized, which token-endpoint errors mean "revoked", how credentials are encrypted and
//! with which key, and the accounts by status. Long-lived credentials (api_key, basic) are listed
//! here too, because their lifecycle is the rotation policy.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use tidegate_config::{AuthConfig, Config};
use time::OffsetDateTime;

use super::dur;
use crate::findings::{Findings, ids};
use crate::live::{AccountFacts, LiveState, redact_url, storage_kind};

/// The OAuth token lifecycle section.
#[derive(Debug, Clone, Serialize)]
pub struct OAuthSection {
    pub serialization: Serialization,
    pub encryption: Encryption,
    /// Every connector with stored credentials.
    pub connectors: Vec<CredentialConnector>,
    /// All accounts, when the store could be read.
    pub accounts_total: Option<AccountCounts>,
    /// `audit.credential_rotation`, if set.
    pub credential_rotation: Option<String>,
}

/// How concurrent refreshes of one account are prevented.
#[derive(Debug, Clone, Serialize)]
pub struct Serialization {
    /// `local` (in-process mutex) or `redis`.
    pub lock_backend: String,
    pub lock_url: String,
    /// `audit.instances`, if stated.
    pub instances: Option<u32>,
    pub storage: String,
    /// Whether the lock covers every process that may refresh.
    pub adequate: bool,
    pub explanation: String,
}

/// How stored credentials are protected.
#[derive(Debug, Clone, Serialize)]
pub struct Encryption {
    pub algorithm: String,
    pub key_provider: String,
    pub key_location: String,
    /// Id of the current master key (hash prefix; not the key).
    pub key_id: Option<String>,
    /// Last successful `tidegate keys rotate`, from the admin trail.
    pub last_rotation: Option<String>,
    /// Accounts whose data key is wrapped by another master key than the current one.
    pub accounts_on_other_keys: Option<usize>,
}

/// One connector with stored credentials.
#[derive(Debug, Clone, Serialize)]
pub struct CredentialConnector {
    pub connector: String,
    /// `oauth2`, `api_key` or `basic`.
    pub auth_type: String,
    /// `[min, max]` before expiry, uniformly jittered (OAuth only).
    pub refresh_before: Option<[String; 2]>,
    pub token_url: Option<String>,
    /// Token-endpoint `error` values that mark the account `needs_reauth` (OAuth only).
    pub revoked_errors: Vec<String>,
    pub scopes: Vec<String>,
    /// Long-lived (api_key, basic): replaced only by an operator.
    pub long_lived: bool,
    pub accounts: Option<AccountCounts>,
}

/// Accounts by status.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct AccountCounts {
    pub active: usize,
    pub needs_reauth: usize,
    /// Active OAuth accounts whose token expired without a refresh since.
    pub stale: usize,
}

/// An active OAuth account whose token expired more than this long ago without a refresh is
/// stale. The grace covers a refresh in progress at the moment of the audit.
pub const STALE_GRACE: Duration = Duration::from_secs(5 * 60);

fn is_stale(a: &AccountFacts, now_ms: i64) -> bool {
    let grace = STALE_GRACE.as_millis() as i64;
    a.auth_type == "oauth2"
        && a.status == "active"
        && a.expires_at_ms.is_some_and(|exp| {
            exp + grace < now_ms && a.last_refreshed_at_ms.is_none_or(|r| r < exp)
        })
}

fn counts<'a>(accounts: impl Iterator<Item = &'a AccountFacts>, now_ms: i64) -> AccountCounts {
    let mut c = AccountCounts::default();
    for a in accounts {
        match a.status.as_str() {
            "needs_reauth" => c.needs_reauth += 1,
            _ => c.active += 1,
        }
        if is_stale(a, now_ms) {
            c.stale += 1;
        }
    }
    c
}

fn ms_to_text(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(crate::trail::format_at)
        .unwrap_or_else(|_| ms.to_string())
}

pub(super) fn build(
    config: &Config,
    live: &LiveState,
    now: OffsetDateTime,
    findings: &mut Findings,
) -> OAuthSection {
    let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
    let accounts = live.accounts.available.then_some(&live.accounts.accounts);
    let mut by_connector: BTreeMap<&str, Vec<&AccountFacts>> = BTreeMap::new();
    if let Some(list) = accounts {
        for a in list {
            by_connector
                .entry(a.connector.as_str())
                .or_default()
                .push(a);
        }
    }

    let serialization = serialization(config, findings);

    let mut connectors = Vec::new();
    for (name, c) in &config.connectors {
        if !c.auth.stores_credentials() {
            continue;
        }
        let mine = by_connector.get(name.as_str());
        let account_counts = accounts.map(|_| counts(mine.into_iter().flatten().copied(), now_ms));
        let (refresh_before, token_url, revoked, scopes) = match &c.auth {
            AuthConfig::OAuth2(o) => {
                let mut revoked = vec!["invalid_grant".to_owned()];
                for e in &o.revoked_errors {
                    if !revoked.contains(e) {
                        revoked.push(e.clone());
                    }
                }
                (
                    Some([dur(o.refresh_before[0]), dur(o.refresh_before[1])]),
                    Some(o.token_url.clone()),
                    revoked,
                    o.scopes.clone(),
                )
            }
            _ => (None, None, Vec::new(), Vec::new()),
        };
        let long_lived = matches!(c.auth, AuthConfig::ApiKey(_) | AuthConfig::Basic);
        if let Some(list) = mine {
            account_findings(config, name, long_lived, list, now_ms, findings);
        }
        connectors.push(CredentialConnector {
            connector: name.clone(),
            auth_type: c.auth.type_name().to_owned(),
            refresh_before,
            token_url,
            revoked_errors: revoked,
            scopes,
            long_lived,
            accounts: account_counts,
        });
    }
    rotation_policy_finding(config, findings);

    let last_rotation = live
        .trail
        .summary
        .as_ref()
        .and_then(|s| s.last_key_rotation.clone());
    let accounts_on_other_keys = match (&live.keys.key_id, accounts) {
        (Some(current), Some(list)) => Some(list.iter().filter(|a| &a.key_id != current).count()),
        _ => None,
    };
    if let Some(n) = accounts_on_other_keys.filter(|n| *n > 0) {
        findings.push(
            ids::KEY_ROTATION_INCOMPLETE,
            "keys",
            format!(
                "{n} account(s) have a data key wrapped by a master key other than the current \
                 one ({})",
                live.keys.key_id.as_deref().unwrap_or("?")
            ),
            "Run `tidegate keys rotate` with the new key in place (it re-wraps every data key; \
             no plaintext touches disk), then retire the old key.",
        );
    }

    OAuthSection {
        serialization,
        encryption: Encryption {
            algorithm: "AES-256-GCM envelope encryption: a random data key per account seals its \
                        credentials; the master key (KEK) wraps the data key; both bound to the \
                        account id as associated data"
                .into(),
            key_provider: live.keys.provider.clone(),
            key_location: live.keys.location.clone(),
            key_id: live.keys.key_id.clone(),
            last_rotation,
            accounts_on_other_keys,
        },
        connectors,
        accounts_total: accounts.map(|list| counts(list.iter(), now_ms)),
        credential_rotation: config.audit.credential_rotation.map(dur),
    }
}

fn serialization(config: &Config, findings: &mut Findings) -> Serialization {
    let url = config.locks.url.trim();
    let local = url == "local";
    let kind = storage_kind(&config.storage.url);
    let instances = config.audit.instances;
    let several = match instances {
        Some(n) => n > 1,
        // PostgreSQL storage exists to share accounts between processes.
        None => kind == "postgres",
    };
    let adequate = !(local && several);
    let explanation = if local {
        match (several, instances) {
            (true, Some(n)) => format!(
                "in-process mutex only, but audit.instances = {n}: two instances can refresh \
                 the same account at once"
            ),
            (true, None) => "in-process mutex only, while PostgreSQL storage implies several \
                             instances sharing accounts"
                .into(),
            _ => "in-process mutex: adequate for a single instance".into(),
        }
    } else {
        "distributed lock (SET NX PX with an owner token) plus a version fence on the account \
         row: one refresh per account across all instances, and a holder whose lock expired \
         cannot overwrite a newer token"
            .into()
    };
    if !adequate {
        findings.push(
            ids::LOCKS_LOCAL_MULTI_INSTANCE,
            "locks.url",
            format!(
                "refresh locks are local while {}",
                match instances {
                    Some(n) => format!("audit.instances = {n}"),
                    None => "storage is PostgreSQL (several instances implied)".into(),
                }
            ),
            "Set locks.url = \"redis://...\" so refreshes are serialized across instances \
             (providers that rotate refresh tokens revoke the grant when two refreshes race), \
             or state audit.instances = 1 if only one instance ever runs.",
        );
    }
    Serialization {
        lock_backend: if local { "local" } else { "redis" }.into(),
        lock_url: redact_url(url),
        instances,
        storage: kind.into(),
        adequate,
        explanation,
    }
}

fn account_findings(
    config: &Config,
    connector: &str,
    long_lived: bool,
    accounts: &[&AccountFacts],
    now_ms: i64,
    findings: &mut Findings,
) {
    let stale: Vec<&&AccountFacts> = accounts.iter().filter(|a| is_stale(a, now_ms)).collect();
    if !stale.is_empty() {
        let examples: Vec<String> = stale
            .iter()
            .take(5)
            .map(|a| {
                format!(
                    "{} (expired {}, last refresh {})",
                    a.id,
                    a.expires_at_ms.map_or_else(|| "?".into(), ms_to_text),
                    a.last_refreshed_at_ms
                        .map_or_else(|| "never".into(), ms_to_text)
                )
            })
            .collect();
        findings.push(
            ids::ACCOUNT_STALE,
            format!("connectors.{connector}.auth"),
            format!(
                "{} active account(s) of {connector} were not refreshed past their expiry: {}",
                stale.len(),
                examples.join("; ")
            ),
            "Check that a `serve` process (which runs the proactive refresher) is up and can \
             reach the token endpoint; force one with POST /admin/accounts/{id}/refresh and read \
             its problem response.",
        );
    }
    let reauth = accounts
        .iter()
        .filter(|a| a.status == "needs_reauth")
        .count();
    if reauth > 0 {
        findings.push(
            ids::ACCOUNT_NEEDS_REAUTH,
            format!("connectors.{connector}.auth"),
            format!("{reauth} account(s) of {connector} need re-authorization (grant revoked)"),
            "Send the account's user through /connect/{connector} again, or delete the account \
             if the integration was uninstalled.",
        );
    }
    if long_lived && let Some(period) = config.audit.credential_rotation {
        let limit = now_ms - period.as_millis() as i64;
        let overdue: Vec<&str> = accounts
            .iter()
            .filter(|a| a.updated_at_ms < limit)
            .map(|a| a.id.as_str())
            .collect();
        if !overdue.is_empty() {
            findings.push(
                ids::CREDENTIAL_ROTATION_OVERDUE,
                format!("connectors.{connector}.auth"),
                format!(
                    "{} account(s) of {connector} hold a credential last replaced more than {} \
                     ago: {}",
                    overdue.len(),
                    dur(period),
                    overdue
                        .iter()
                        .take(5)
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "Issue a new key at the provider, PUT it with /admin/accounts/{id}, then revoke \
                 the old one at the provider.",
            );
        }
    }
}

fn rotation_policy_finding(config: &Config, findings: &mut Findings) {
    if config.audit.credential_rotation.is_some() {
        return;
    }
    let has_oauth = config
        .connectors
        .values()
        .any(|c| matches!(c.auth, AuthConfig::OAuth2(_)));
    if !has_oauth {
        return;
    }
    for (name, c) in &config.connectors {
        if matches!(c.auth, AuthConfig::ApiKey(_) | AuthConfig::Basic) {
            findings.push(
                ids::CREDENTIAL_ROTATION_MISSING,
                format!("connectors.{name}.auth"),
                format!(
                    "{name} uses a long-lived {} credential beside OAuth connectors (whose \
                     tokens expire and refresh), and no rotation policy is stated",
                    c.auth.type_name()
                ),
                "State the policy with [audit] credential_rotation = \"90d\" (and follow it: the \
                 audit then flags accounts whose credential is older), or move the connector to \
                 OAuth if the provider offers it.",
            );
        }
    }
}
