//! The admin audit trail: an append-only, tamper-evident record of every admin API call and every
//! CLI account/key operation (who, what, on what, when, with which outcome).
//!
//! ```no_run
//! # async fn demo() -> Result<(), tidegate_audit::trail::TrailError> {
//! use tidegate_audit::trail::{Actor, Outcome, Trail, actions};
//!
//! let trail = Trail::connect("sqlite://./tidegate-data/tidegate.db").await?;
//! trail
//!     .append(&Actor::cli(), actions::ACCOUNT_DELETE, "account:acc_1", Outcome::Ok)
//!     .await?;
//! assert!(trail.verify().await?.is_ok());
//! # Ok(()) }
//! ```
//!
//! Why a hash chain: an operator with database access could otherwise quietly remove the row
//! that shows they revealed a credential. Each entry's hash covers the previous entry's hash, so
//! editing or deleting any entry (or the newest ones, thanks to the separately stored head)
//! makes [`Trail::verify`] report the chain as broken at that entry. It is tamper-*evident*, not
//! tamper-proof: someone able to rewrite every row and the head can forge a consistent chain, which
//! is why the audit report prints the head hash — comparing it with the one in an earlier
//! report (or a copy kept elsewhere) detects a rewritten history.
//!
//! Concurrency: appends from several processes never fork the chain. On PostgreSQL an append
//! locks the head row (`SELECT ... FOR UPDATE`) inside its transaction; on SQLite it runs in a
//! `BEGIN IMMEDIATE` transaction, which takes the database's write lock up front.

pub mod admin;
mod chain;
mod store;

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;

pub use chain::{GENESIS_HASH, canonical_json, entry_hash};
use store::Store;
pub use store::TrailError;

/// Action names recorded in the trail. Free-form strings are accepted too; these are the ones
/// tidegate itself writes and the audit report summarizes.
pub mod actions {
    /// A plaintext credential was shown to an operator (`tidegate accounts reveal`).
    pub const ACCOUNT_REVEAL: &str = "account.reveal";
    /// An account and its data key were deleted (crypto-shredding).
    pub const ACCOUNT_DELETE: &str = "account.delete";
    /// An account's credentials were created or replaced.
    pub const ACCOUNT_PUT: &str = "account.put";
    /// A refresh was forced by an operator.
    pub const ACCOUNT_REFRESH: &str = "account.refresh";
    /// Accounts were listed or one was shown (metadata only, never a token).
    pub const ACCOUNT_READ: &str = "account.read";
    /// Every stored data key was re-wrapped under the current master key.
    pub const KEYS_ROTATE: &str = "keys.rotate";
    /// A new master key file was written.
    pub const KEYS_INIT: &str = "keys.init";
    /// Any other admin API call (method and path in the target).
    pub const ADMIN_REQUEST: &str = "admin.request";
}

/// Who performed an action, without revealing their credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    /// An admin API caller, identified by `admin:` and the first 12 hex digits of SHA-256 of the
    /// admin key: enough to tell keys apart after a rotation, useless to an attacker.
    pub fn admin_key(key: &str) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
        Self(format!("admin:{}", &hex::encode(digest.as_ref())[..12]))
    }

    /// The operator running the CLI: `cli:` and the login name from `$USER` (or `$LOGNAME`,
    /// `$USERNAME`), else `cli:uid:N` from the process's real uid (Linux), else `cli:unknown`.
    pub fn cli() -> Self {
        let user = ["USER", "LOGNAME", "USERNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
            .or_else(real_uid)
            .unwrap_or_else(|| "unknown".into());
        Self(format!("cli:{user}"))
    }

    /// An actor with an explicit name (e.g. `system:refresher`).
    pub fn named(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The recorded form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `uid:N` from `/proc/self/status` (no libc call needed, so no unsafe code).
fn real_uid() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    let uid = line.split_whitespace().nth(1)?;
    Some(format!("uid:{uid}"))
}

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Ok,
    /// Not allowed (bad key, missing `--reason`, ...). Recorded too: refused attempts matter.
    Refused,
    /// Allowed but failed.
    Failed,
}

impl Outcome {
    /// The recorded form.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }
}

/// One stored entry of the trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub seq: i64,
    /// RFC 3339, UTC, microsecond precision (fixed width, so text order is time order).
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub detail: Option<String>,
    pub prev_hash: String,
    pub entry_hash: String,
}

/// The result of [`Trail::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ChainStatus {
    /// Every entry links to the previous one and the head matches the last entry.
    Ok { entries: i64, head_hash: String },
    /// The first entry that cannot be trusted, and why.
    Broken { at_seq: i64, reason: String },
}

impl ChainStatus {
    pub fn is_ok(&self) -> bool {
        matches!(self, ChainStatus::Ok { .. })
    }
}

/// What the audit report says about the trail for a period.
#[derive(Debug, Clone, Serialize)]
pub struct TrailSummary {
    /// Start of the period (RFC 3339).
    pub since: String,
    /// Entries in the period.
    pub entries_in_period: u64,
    /// Entries in the period per action name.
    pub by_action: BTreeMap<String, u64>,
    /// Every credential reveal in the period, with its reason.
    pub reveals: Vec<Entry>,
    /// Successful account deletions in the period.
    pub deletions: u64,
    /// Successful key rotations in the period.
    pub key_rotations: u64,
    /// Refused attempts in the period.
    pub refused: u64,
    /// When the last successful key rotation happened (whole trail, not only the period).
    pub last_key_rotation: Option<String>,
    /// The state of the whole chain.
    pub chain: ChainStatus,
}

/// A new entry, for callers that need the optional `detail` (e.g. a reveal's reason).
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    pub actor: &'a Actor,
    pub action: &'a str,
    pub target: &'a str,
    pub outcome: Outcome,
    pub detail: Option<&'a str>,
}

/// The admin audit trail in tidegate's store (SQLite or PostgreSQL).
#[derive(Debug, Clone)]
pub struct Trail {
    store: Store,
}

impl Trail {
    /// Connects to `url` (`sqlite://...` or `postgres://...`), creating the SQLite file if it does
    /// not exist, and applies the trail's migrations.
    pub async fn connect(url: &str) -> Result<Self, TrailError> {
        let trail = Self {
            store: Store::connect(url, true).await?,
        };
        trail.migrate().await?;
        Ok(trail)
    }

    /// Opens an existing database for reading: never creates a SQLite file and applies no
    /// migration, so the audit leaves a deployment exactly as it found it. Check
    /// [`Trail::is_initialized`] before reading.
    pub async fn open_existing(url: &str) -> Result<Self, TrailError> {
        Ok(Self {
            store: Store::connect(url, false).await?,
        })
    }

    /// Whether the trail's tables exist (they are created by the first [`Trail::connect`]).
    pub async fn is_initialized(&self) -> Result<bool, TrailError> {
        self.store.is_initialized().await
    }

    /// Uses an existing SQLite pool (migrations are applied).
    pub async fn from_sqlite_pool(pool: sqlx::SqlitePool) -> Result<Self, TrailError> {
        let trail = Self {
            store: Store::Sqlite(pool),
        };
        trail.migrate().await?;
        Ok(trail)
    }

    /// Uses an existing PostgreSQL pool (migrations are applied in its `search_path` schema).
    pub async fn from_pg_pool(pool: sqlx::PgPool) -> Result<Self, TrailError> {
        let trail = Self {
            store: Store::Postgres(pool),
        };
        trail.migrate().await?;
        Ok(trail)
    }

    async fn migrate(&self) -> Result<(), TrailError> {
        self.store.migrate().await
    }

    /// Appends one entry and returns it (with its seq and hashes).
    pub async fn append(
        &self,
        actor: &Actor,
        action: &str,
        target: &str,
        outcome: Outcome,
    ) -> Result<Entry, TrailError> {
        self.append_entry(NewEntry {
            actor,
            action,
            target,
            outcome,
            detail: None,
        })
        .await
    }

    /// Appends one entry with an optional detail (e.g. the reason given for a reveal).
    pub async fn append_entry(&self, new: NewEntry<'_>) -> Result<Entry, TrailError> {
        self.store.append(&new).await
    }

    /// Every entry in seq order (for exports and tests).
    pub async fn entries(&self) -> Result<Vec<Entry>, TrailError> {
        self.store.entries().await
    }

    /// Checks the whole chain: contiguous seqs, each prev_hash equal to the previous entry's
    /// hash, each entry_hash recomputed from the stored content, and the head matching the last
    /// entry.
    pub async fn verify(&self) -> Result<ChainStatus, TrailError> {
        let entries = self.store.entries().await?;
        let (head_seq, head_hash) = self.store.head().await?;
        let mut v = chain::Verifier::default();
        entries.iter().for_each(|e| v.push(e));
        Ok(v.finish(head_seq, &head_hash))
    }

    /// Summarizes the entries at or after `since` and verifies the whole chain.
    pub async fn summary(&self, since: OffsetDateTime) -> Result<TrailSummary, TrailError> {
        let entries = self.store.entries().await?;
        let (head_seq, head_hash) = self.store.head().await?;
        let since_text = format_at(since);
        let mut v = chain::Verifier::default();
        let mut summary = TrailSummary {
            since: since_text.clone(),
            entries_in_period: 0,
            by_action: BTreeMap::new(),
            reveals: Vec::new(),
            deletions: 0,
            key_rotations: 0,
            refused: 0,
            last_key_rotation: None,
            chain: ChainStatus::Ok {
                entries: 0,
                head_hash: GENESIS_HASH.into(),
            },
        };
        for e in &entries {
            v.push(e);
            let ok = e.outcome == Outcome::Ok.as_str();
            if e.action == actions::KEYS_ROTATE && ok {
                summary.last_key_rotation = Some(e.at.clone());
            }
            if e.at.as_str() < since_text.as_str() {
                continue;
            }
            summary.entries_in_period += 1;
            *summary.by_action.entry(e.action.clone()).or_default() += 1;
            match e.action.as_str() {
                actions::ACCOUNT_REVEAL => summary.reveals.push(e.clone()),
                actions::ACCOUNT_DELETE if ok => summary.deletions += 1,
                actions::KEYS_ROTATE if ok => summary.key_rotations += 1,
                _ => {}
            }
            if e.outcome == Outcome::Refused.as_str() {
                summary.refused += 1;
            }
        }
        summary.chain = v.finish(head_seq, &head_hash);
        Ok(summary)
    }
}

/// The fixed-width RFC 3339 form stored in `at` (`2026-11-29T10:00:00.000000Z`).
pub fn format_at(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_never_contains_the_key() {
        let a = Actor::admin_key("super-secret-admin-key");
        assert!(a.as_str().starts_with("admin:"));
        assert_eq!(a.as_str().len(), "admin:".len() + 12);
        assert!(!a.as_str().contains("secret"));
        assert_ne!(a, Actor::admin_key("another-key"));
    }

    #[test]
    fn at_is_fixed_width_utc() {
        let t = time::macros::datetime!(2026-01-02 03:04:05.000007 +02:00);
        assert_eq!(format_at(t), "2026-01-02T01:04:05.000007Z");
    }
}
