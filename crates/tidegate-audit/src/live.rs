//! What the audit reads from the running deployment besides the config: is storage reachable,
//! which master key is in use and where it lives, how old the oldest boundary-log file is, the
//! accounts by status, and the admin trail.
//!
//! Gathering never writes: a SQLite database that does not exist is reported as "not
//! initialized" rather than created, and nothing here changes a row. Each probe records its own
//! failure as text (never a secret), so one unreachable service does not hide the other answers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use tidegate_config::{Config, KeyProvider};
use time::OffsetDateTime;

use crate::trail::{Trail, TrailSummary};

/// Everything read from the live deployment.
#[derive(Debug, Clone, Serialize)]
pub struct LiveState {
    /// When the state was read (RFC 3339).
    pub observed_at: String,
    pub storage: StorageState,
    pub keys: KeyState,
    pub logs: LogState,
    pub accounts: AccountsState,
    pub trail: TrailState,
}

/// `[storage]` as observed.
#[derive(Debug, Clone, Serialize)]
pub struct StorageState {
    /// `sqlite`, `sqlite-memory` or `postgres`.
    pub kind: String,
    /// The URL with any password replaced by `***`.
    pub url: String,
    /// `None`: not probed.
    pub reachable: Option<bool>,
    pub detail: Option<String>,
}

/// `[keys]` as observed.
#[derive(Debug, Clone, Serialize)]
pub struct KeyState {
    /// `file` or `env`.
    pub provider: String,
    /// The key file path or the variable name.
    pub location: String,
    /// `None`: not probed.
    pub readable: Option<bool>,
    /// Id of the current master key (first 8 bytes of SHA-256 of the key, hex): identifies the
    /// key without revealing it.
    pub key_id: Option<String>,
    /// Unix permission bits of the key file, octal (`0600`).
    pub file_mode: Option<String>,
    pub detail: Option<String>,
}

/// The boundary-log directory as observed.
#[derive(Debug, Clone, Serialize)]
pub struct LogState {
    /// Files that belong to the boundary log (the active file and its rotations).
    pub files: usize,
    /// Age in whole days of the oldest of them (by the date in a rotated file's name, else its
    /// modification time).
    pub oldest_age_days: Option<u64>,
    pub detail: Option<String>,
}

/// One stored account, metadata only (never a credential).
#[derive(Debug, Clone, Serialize)]
pub struct AccountFacts {
    pub id: String,
    pub connector: String,
    pub auth_type: String,
    /// `active` or `needs_reauth`.
    pub status: String,
    /// Id of the master key that wraps the account's data key.
    pub key_id: String,
    /// Unix milliseconds.
    pub expires_at_ms: Option<i64>,
    pub last_refreshed_at_ms: Option<i64>,
    /// Last write of the account (credentials replaced or refreshed), unix milliseconds.
    pub updated_at_ms: i64,
}

/// Accounts as observed.
#[derive(Debug, Clone, Serialize)]
pub struct AccountsState {
    /// `false`: the store could not be read (see `detail`); counts are then unknown.
    pub available: bool,
    pub detail: Option<String>,
    #[serde(skip)]
    pub accounts: Vec<AccountFacts>,
}

/// The admin trail as observed.
#[derive(Debug, Clone, Serialize)]
pub struct TrailState {
    pub available: bool,
    pub detail: Option<String>,
    pub summary: Option<TrailSummary>,
}

impl LiveState {
    /// A state in which nothing was probed: the report then answers from the config alone and
    /// says "not probed" wherever live state would have been used.
    pub fn not_probed(config: &Config, now: OffsetDateTime) -> Self {
        Self {
            observed_at: crate::trail::format_at(now),
            storage: StorageState {
                kind: storage_kind(&config.storage.url).into(),
                url: redact_url(&config.storage.url),
                reachable: None,
                detail: Some("not probed".into()),
            },
            keys: KeyState {
                provider: provider_name(config.keys.provider).into(),
                location: key_location(config),
                readable: None,
                key_id: None,
                file_mode: None,
                detail: Some("not probed".into()),
            },
            logs: LogState {
                files: 0,
                oldest_age_days: None,
                detail: Some("not probed".into()),
            },
            accounts: AccountsState {
                available: false,
                detail: Some("not probed".into()),
                accounts: Vec::new(),
            },
            trail: TrailState {
                available: false,
                detail: Some("not probed".into()),
                summary: None,
            },
        }
    }

    /// Reads the live state of the deployment `config` describes. `trail_since` is the start of
    /// the period the trail summary covers.
    pub async fn gather(config: &Config, trail_since: OffsetDateTime) -> Self {
        let now = OffsetDateTime::now_utc();
        let mut state = Self::not_probed(config, now);
        state.keys = probe_keys(config);
        state.logs = probe_logs(config, now.date());

        let url = &config.storage.url;
        if state.storage.kind == "sqlite-memory" {
            state.storage.reachable = Some(true);
            state.storage.detail =
                Some("in-memory database: nothing survives a restart, nothing to read".into());
            state.accounts.detail = Some("in-memory database".into());
            state.trail.detail = Some("in-memory database".into());
            return state;
        }
        if let Some(path) = sqlite_path(url)
            && !path.exists()
        {
            state.storage.reachable = Some(false);
            let msg = format!("database file {} does not exist yet", path.display());
            state.storage.detail = Some(msg.clone());
            state.accounts.detail = Some(msg.clone());
            state.trail.detail = Some(msg);
            return state;
        }

        match tokio::time::timeout(Duration::from_secs(10), crate::accounts::list(url)).await {
            Ok(Ok(accounts)) => {
                state.storage.reachable = Some(true);
                state.storage.detail = None;
                state.accounts = AccountsState {
                    available: true,
                    detail: None,
                    accounts,
                };
            }
            Ok(Err(e)) => {
                state.storage.reachable = Some(false);
                state.storage.detail = Some(e.clone());
                state.accounts.detail = Some(e);
            }
            Err(_) => {
                state.storage.reachable = Some(false);
                state.storage.detail = Some("no answer within 10 s".into());
                state.accounts.detail = Some("no answer within 10 s".into());
            }
        }
        if state.storage.reachable == Some(true) {
            state.trail = match read_trail(url, trail_since).await {
                Ok(summary) => TrailState {
                    available: true,
                    detail: None,
                    summary: Some(summary),
                },
                Err(e) => TrailState {
                    available: false,
                    detail: Some(e),
                    summary: None,
                },
            };
        }
        state
    }
}

async fn read_trail(url: &str, since: OffsetDateTime) -> Result<TrailSummary, String> {
    let trail = Trail::open_existing(url).await.map_err(|e| e.to_string())?;
    if !trail.is_initialized().await.map_err(|e| e.to_string())? {
        return Err("no admin action recorded yet (trail tables absent)".into());
    }
    trail.summary(since).await.map_err(|e| e.to_string())
}

/// `sqlite`, `sqlite-memory` or `postgres` (anything else is reported as written).
pub fn storage_kind(url: &str) -> &'static str {
    if url.starts_with("sqlite:") && url.contains(":memory:") {
        "sqlite-memory"
    } else if url.starts_with("sqlite:") {
        "sqlite"
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        "postgres"
    } else {
        "other"
    }
}

/// The database file of a `sqlite://PATH[?options]` URL.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    if rest.contains(":memory:") {
        return None;
    }
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// Replaces the password of `scheme://user:password@host/...` with `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

pub(crate) fn provider_name(p: KeyProvider) -> &'static str {
    match p {
        KeyProvider::File => "file",
        KeyProvider::Env => "env",
    }
}

/// The default variable of `provider = "env"` when `keys.env` is unset.
pub const DEFAULT_KEY_ENV: &str = "TIDEGATE_MASTER_KEY";

pub(crate) fn key_location(config: &Config) -> String {
    match config.keys.provider {
        KeyProvider::File => config
            .keys
            .path
            .as_ref()
            .map_or_else(|| "(unset)".to_owned(), |p| p.display().to_string()),
        KeyProvider::Env => config
            .keys
            .env
            .clone()
            .unwrap_or_else(|| DEFAULT_KEY_ENV.to_owned()),
    }
}

fn probe_keys(config: &Config) -> KeyState {
    let mut state = KeyState {
        provider: provider_name(config.keys.provider).into(),
        location: key_location(config),
        readable: Some(false),
        key_id: None,
        file_mode: None,
        detail: None,
    };
    let loaded = match config.keys.provider {
        KeyProvider::File => {
            let Some(path) = &config.keys.path else {
                state.detail = Some("keys.path is unset".into());
                return state;
            };
            state.file_mode = file_mode(path);
            tidegate_crypto::MasterKey::load_file(path)
        }
        KeyProvider::Env => tidegate_crypto::MasterKey::from_env(&state.location),
    };
    match loaded {
        Ok(key) => {
            state.readable = Some(true);
            state.key_id = Some(key.id());
        }
        // CryptoError messages name the file or variable and the reason, never key material.
        Err(e) => state.detail = Some(e.to_string()),
    }
    state
}

#[cfg(unix)]
fn file_mode(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    Some(format!("{mode:04o}"))
}

#[cfg(not(unix))]
fn file_mode(_path: &Path) -> Option<String> {
    None
}

fn probe_logs(config: &Config, today: time::Date) -> LogState {
    let Some(file) = &config.logging.file else {
        return LogState {
            files: 0,
            oldest_age_days: None,
            detail: Some("boundary log goes to stdout".into()),
        };
    };
    let dir = file.parent().unwrap_or(Path::new("."));
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let ext = file.extension().and_then(|s| s.to_str()).unwrap_or("");
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            return LogState {
                files: 0,
                oldest_age_days: None,
                detail: Some(format!("cannot read {}: {e}", dir.display())),
            };
        }
    };
    let mut files = 0;
    let mut oldest: Option<u64> = None;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let age = if Some(name.as_str()) == file.file_name().and_then(|n| n.to_str()) {
            mtime_age_days(&entry.path())
        } else if let Some(day) = rotated_day(&name, stem, ext) {
            Some((today - day).whole_days().max(0) as u64)
        } else {
            continue;
        };
        files += 1;
        if let Some(a) = age {
            oldest = Some(oldest.map_or(a, |o| o.max(a)));
        }
    }
    LogState {
        files,
        oldest_age_days: oldest,
        detail: (files == 0).then(|| "no boundary-log file yet".to_owned()),
    }
}

fn mtime_age_days(path: &Path) -> Option<u64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    let age = std::time::SystemTime::now().duration_since(modified).ok()?;
    Some(age.as_secs() / 86_400)
}

/// The day in a rotated boundary-log name: `{stem}-YYYY-MM-DD.{ext}` or
/// `{stem}-YYYY-MM-DD.N.{ext}` (the rotation scheme of tidegate-observe's file sink).
pub fn rotated_day(name: &str, stem: &str, ext: &str) -> Option<time::Date> {
    let rest = name.strip_prefix(stem)?.strip_prefix('-')?;
    let rest = if ext.is_empty() {
        rest
    } else {
        rest.strip_suffix(ext)?.strip_suffix('.')?
    };
    let date = rest.get(..10)?;
    let tail = &rest[10..];
    if !(tail.is_empty()
        || (tail.starts_with('.') && tail[1..].chars().all(|c| c.is_ascii_digit())))
    {
        return None;
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(date, fmt).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db.internal:5432/tidegate"),
            "postgres://app:***@db.internal:5432/tidegate"
        );
        assert_eq!(redact_url("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(
            redact_url("sqlite:///var/lib/t.db"),
            "sqlite:///var/lib/t.db"
        );
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite:///var/lib/t.db?mode=rwc"),
            Some("/var/lib/t.db".into())
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x/y"), None);
        assert_eq!(storage_kind("sqlite::memory:"), "sqlite-memory");
    }

    #[test]
    fn rotated_names() {
        let d = |y, m, day| {
            time::Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), day).unwrap()
        };
        assert_eq!(
            rotated_day("boundary-2026-10-14.log", "boundary", "log"),
            Some(d(2026, 10, 14))
        );
        assert_eq!(
            rotated_day("boundary-2026-10-14.2.log", "boundary", "log"),
            Some(d(2026, 10, 14))
        );
        assert_eq!(rotated_day("boundary.log", "boundary", "log"), None);
        assert_eq!(rotated_day("other-2026-10-14.log", "boundary", "log"), None);
        assert_eq!(
            rotated_day("boundary-2026-10-14.log.gz", "boundary", "log"),
            None
        );
    }
}
