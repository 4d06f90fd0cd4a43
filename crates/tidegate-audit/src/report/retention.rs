//! Section 1, data retention: the runbook's layer table (edge, queue, claim check, logs,
//! warehouse/cache, backups) with this deployment's answer per layer, and where the master key
//! lives relative to the database.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use tidegate_config::{Config, KeyProvider};

use super::dur;
use crate::findings::{Findings, ids};
use crate::live::{self, LiveState};

/// The retention section.
#[derive(Debug, Clone, Serialize)]
pub struct DataRetention {
    pub layers: Vec<RetentionLayer>,
    /// Whether tidegate keeps a standing copy of third-party records (a warehouse or cache).
    pub third_party_data_mirrored: bool,
    /// Where third-party data can be at rest at all, and for how long at most.
    pub third_party_data_at_rest: Vec<String>,
    pub kek: KekPlacement,
}

/// One row of the layer table.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionLayer {
    pub layer: String,
    pub component: String,
    /// What is kept (or "nothing").
    pub kept: String,
    /// How long (`none` when nothing is kept).
    pub retention: String,
    /// How it is deleted.
    pub deletion: String,
    /// Where.
    pub location: String,
    /// Encryption at rest.
    pub encrypted: String,
}

/// Where the master key (KEK) lives relative to the database.
#[derive(Debug, Clone, Serialize)]
pub struct KekPlacement {
    pub provider: String,
    pub location: String,
    pub database: String,
    /// `false` when the key is "beside the database" under the rule in `docs/audit.md`.
    pub separate_from_database: bool,
    pub explanation: String,
}

pub(super) fn build(config: &Config, live: &LiveState, findings: &mut Findings) -> DataRetention {
    let ev = &config.events;
    let cc = &config.claim_check;
    let lg = &config.logging;
    let storage = &live.storage;
    let retry_window: Duration = ev.retry_schedule.iter().sum();
    let attempts = ev.retry_schedule.len();
    let db_where = format!("{} database ({})", storage.kind, storage.url);

    let dedup_windows: Vec<String> = config
        .connectors
        .iter()
        .filter(|(_, c)| c.webhooks.as_ref().is_some_and(|w| w.verify.is_some()))
        .map(|(n, c)| {
            let w = c.webhooks.as_ref().and_then(|w| w.dedup_window);
            format!("{n}: {}", w.map_or_else(|| "default".to_owned(), dur))
        })
        .collect();

    let mut layers = vec![
        RetentionLayer {
            layer: "Edge ingestion".into(),
            component: "proxy (/proxy/*) and inbound webhooks (/webhooks/*)".into(),
            kept: format!(
                "nothing: request and response bodies stream through (cap {} per request); \
                 inbound webhook bodies are verified in memory and handed to the event queue{}",
                tidegate_config::format_size(config.server.max_request_body.0),
                if dedup_windows.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; provider event ids (not payloads) are kept for deduplication ({})",
                        dedup_windows.join(", ")
                    )
                }
            ),
            retention: "none (bodies); event ids for the dedup window".into(),
            deletion: "not written".into(),
            location: "process memory".into(),
            encrypted: "TLS in transit".into(),
        },
        RetentionLayer {
            layer: "Queue / buffer".into(),
            component: "event delivery queue and dead letters".into(),
            kept: "events awaiting delivery to environments' webhook_url (payload or claim check)"
                .into(),
            retention: format!(
                "up to {} of retries ({attempts} attempts), then {} as a dead letter",
                dur(retry_window),
                dur(ev.dead_letter_ttl)
            ),
            deletion: "deleted on successful delivery; dead letters deleted when their TTL passes"
                .into(),
            location: db_where.clone(),
            encrypted: "AES-256-GCM, per-event data key wrapped by the master key".into(),
        },
        RetentionLayer {
            layer: "Claim check".into(),
            component: format!("large payloads over {}", tidegate_config::format_size(cc.inline_limit.0)),
            kept: "webhook/reconciliation payloads too large to carry inline".into(),
            retention: format!("until first read, at most {}", dur(cc.ttl)),
            deletion: "delete-on-read (single-use signed URL, then 410); a sweeper deletes expired objects"
                .into(),
            location: claim_location(&cc.url),
            encrypted: "AES-256-GCM, per-object data key wrapped by the master key".into(),
        },
        RetentionLayer {
            layer: "Logs".into(),
            component: "boundary log (one line per upstream exchange)".into(),
            kept: format!(
                "metadata of every exchange; bodies of {} of exchanges and of error responses, \
                 after redaction",
                percent(lg.body_sample_rate)
            ),
            retention: lg
                .retention
                .map_or_else(|| "forever (never deleted)".to_owned(), dur),
            deletion: match &lg.file {
                Some(_) => "rotated daily; rotated files older than the retention are deleted".into(),
                None => "stdout: deletion is the log collector's".into(),
            },
            location: lg
                .file
                .as_ref()
                .map_or_else(|| "stdout".to_owned(), |p| p.display().to_string()),
            encrypted: "no (redacted at write time; rely on disk encryption)".into(),
        },
        RetentionLayer {
            layer: "Warehouse / cache".into(),
            component: "credential store and reconciliation ledger".into(),
            kept: "no third-party records: account credentials (tokens/keys) and, for \
                   reconciliation, record ids and versions only"
                .into(),
            retention: "credentials until the account is deleted; ledger ids for the life of the account"
                .into(),
            deletion: "DELETE /admin/accounts/{id} destroys the account's data key (crypto-shredding)"
                .into(),
            location: db_where.clone(),
            encrypted: "AES-256-GCM envelope encryption for credentials; ids/versions in clear".into(),
        },
        RetentionLayer {
            layer: "Backups".into(),
            component: "database and claim-check store backups (operator's)".into(),
            kept: "ciphertext of credentials and queued events; record ids and versions".into(),
            retention: "the operator's backup retention; queued payloads in a backup expire \
                        logically but persist physically until the backup is deleted"
                .into(),
            deletion: "per backup policy; a deleted account's ciphertext in old backups is \
                       unreadable only if the master key is not in the same backup"
                .into(),
            location: "operator-defined".into(),
            encrypted: "ciphertext only; readable with the master key".into(),
        },
    ];
    if live.storage.kind == "sqlite-memory" {
        for l in &mut layers {
            if l.location.contains("sqlite-memory") {
                l.location = "process memory (lost on restart)".into();
            }
        }
    }

    let mut at_rest = vec![format!(
        "queued and dead-lettered events: at most {} + {} (encrypted)",
        dur(retry_window),
        dur(ev.dead_letter_ttl)
    )];
    at_rest.push(format!(
        "claim-check objects: at most {} (encrypted, deleted on read)",
        dur(cc.ttl)
    ));
    at_rest.push(format!(
        "redacted bodies in the boundary log (sampled: {}; error responses: always): {}",
        percent(lg.body_sample_rate),
        lg.retention.map_or_else(|| "forever".to_owned(), dur)
    ));

    retention_findings(config, findings);
    let kek = kek_placement(config, live, findings);

    DataRetention {
        layers,
        third_party_data_mirrored: false,
        third_party_data_at_rest: at_rest,
        kek,
    }
}

fn retention_findings(config: &Config, findings: &mut Findings) {
    let ev = &config.events;
    if ev.dead_letter_ttl > Duration::from_secs(24 * 3600) {
        findings.push(
            ids::DEADLETTER_TTL_LONG,
            "events.dead_letter_ttl",
            format!(
                "dead-lettered events (with their payloads) are kept for {}, over the 24 h maximum",
                dur(ev.dead_letter_ttl)
            ),
            "Set events.dead_letter_ttl to at most \"24h\" (the default is \"1h\"); replay from \
             the provider or reconciliation instead of keeping payloads.",
        );
    }
    if config.claim_check.ttl > Duration::from_secs(3600) {
        findings.push(
            ids::CLAIMCHECK_TTL_LONG,
            "claim_check.ttl",
            format!(
                "unclaimed large payloads are kept for {}, over 1 h",
                dur(config.claim_check.ttl)
            ),
            "Set claim_check.ttl to at most \"1h\" (default \"15m\"); consumers fetch claim \
             checks within seconds of the event.",
        );
    }
}

fn claim_location(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("s3://") {
        format!("S3 bucket/prefix {rest}")
    } else if let Some(rest) = url.strip_prefix("file://") {
        format!("local directory {rest}")
    } else if url.starts_with("memory://") {
        "process memory (lost on restart)".into()
    } else {
        url.to_owned()
    }
}

fn percent(fraction: f64) -> String {
    let p = fraction * 100.0;
    if p.fract() == 0.0 {
        format!("{p:.0}%")
    } else {
        format!("{p}%")
    }
}

/// Lexically normalized absolute-ish path: `.` removed, `..` applied; canonicalized when it
/// exists, so symlinks do not hide a shared directory.
fn normalize(p: &Path) -> PathBuf {
    if let Ok(c) = std::fs::canonicalize(p) {
        return c;
    }
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => normalize(d),
        _ => normalize(Path::new(".")),
    }
}

/// Whether a dotenv file in `dir` defines `var` (`VAR=...` or `export VAR=...`).
fn dotenv_defines(dir: &Path, var: &str) -> Option<PathBuf> {
    let path = dir.join(".env");
    let text = std::fs::read_to_string(&path).ok()?;
    text.lines()
        .map(|l| l.trim().trim_start_matches("export ").trim_start())
        .any(|l| {
            l.strip_prefix(var)
                .is_some_and(|r| r.trim_start().starts_with('='))
        })
        .then_some(path)
}

/// The "KEK beside the database" rule (docs/audit.md, TG-KEK-BESIDE-DB):
/// - `provider = "file"` with SQLite storage: the key file's directory and the database file's
///   directory are the same, or one contains the other. A copy, backup or volume snapshot of the
///   database directory then carries the key with the ciphertext.
/// - `provider = "env"`: a `.env` file in the database's directory (SQLite) or in the config
///   file's directory defines the key variable, i.e. the key is written to disk next to the data.
/// - PostgreSQL storage with a key file: separate (the database's files are on the database
///   server, the key on the gateway host).
pub(crate) fn kek_placement(
    config: &Config,
    live: &LiveState,
    findings: &mut Findings,
) -> KekPlacement {
    let provider = live::provider_name(config.keys.provider).to_owned();
    let location = live::key_location(config);
    let db_path = live::sqlite_path(&config.storage.url);
    let database = live.storage.url.clone();
    let mut beside: Option<String> = None;
    let mut explanation;

    match config.keys.provider {
        KeyProvider::File => {
            let key_path = config.keys.path.clone().unwrap_or_default();
            match &db_path {
                Some(db) => {
                    let kd = parent_dir(&key_path);
                    let dd = parent_dir(db);
                    if kd.starts_with(&dd) || dd.starts_with(&kd) {
                        beside = Some(format!(
                            "the key file {} and the database {} share the directory {}",
                            key_path.display(),
                            db.display(),
                            if kd.starts_with(&dd) {
                                dd.display()
                            } else {
                                kd.display()
                            }
                        ));
                    }
                    explanation = format!(
                        "key file {} on the gateway host; SQLite database {}",
                        key_path.display(),
                        db.display()
                    );
                }
                None => {
                    explanation = format!(
                        "key file {} on the gateway host; the database ({}) does not hold it",
                        key_path.display(),
                        live.storage.kind
                    );
                }
            }
        }
        KeyProvider::Env => {
            explanation = format!(
                "environment variable {location} of the gateway process (from the deployment's \
                 secret store); never written to the database"
            );
            let mut dirs: Vec<PathBuf> = Vec::new();
            if let Some(db) = &db_path {
                dirs.push(parent_dir(db));
            }
            if let Some(src) = &config.source_path {
                dirs.push(parent_dir(src));
            }
            dirs.dedup();
            if let Some(file) = dirs.iter().find_map(|d| dotenv_defines(d, &location)) {
                beside = Some(format!(
                    "{} defines {location}: the key is on disk next to the data",
                    file.display()
                ));
            }
        }
    }

    if let Some(why) = &beside {
        explanation = format!("{explanation}. BESIDE the database: {why}");
        let path = match config.keys.provider {
            KeyProvider::File => "keys.path",
            KeyProvider::Env => "keys.env",
        };
        findings.push(
            ids::KEK_BESIDE_DB,
            path,
            format!(
                "the master key is stored beside the database ({why}); anyone with a copy of \
                 that directory can decrypt every credential"
            ),
            "Keep the key outside the database's directory tree and its backups: e.g. \
             keys.path = \"/etc/tidegate/master.key\" (mode 0600, not in the data volume) with \
             the database under /var/lib/tidegate, or provider = \"env\" fed from a secret \
             manager instead of a .env file.",
        );
    }

    key_findings(config, live, findings);

    KekPlacement {
        provider,
        location,
        database,
        separate_from_database: beside.is_none(),
        explanation,
    }
}

fn key_findings(config: &Config, live: &LiveState, findings: &mut Findings) {
    let keys = &live.keys;
    let path = match config.keys.provider {
        KeyProvider::File => "keys.path",
        KeyProvider::Env => "keys.env",
    };
    if keys.readable == Some(false) {
        findings.push(
            ids::KEK_UNAVAILABLE,
            path,
            format!(
                "the master key ({} {}) could not be read: {}",
                keys.provider,
                keys.location,
                keys.detail.as_deref().unwrap_or("unknown reason")
            ),
            "Create it with `tidegate keys init` (file provider) or set the variable from the \
             secret store (env provider), and run the audit as the gateway's user.",
        );
    }
    if let Some(mode) = &keys.file_mode
        && u32::from_str_radix(mode, 8).is_ok_and(|m| m & 0o077 != 0)
    {
        findings.push(
            ids::KEY_FILE_PERMISSIONS,
            "keys.path",
            format!("the master key file has mode {mode}: group or others can access it"),
            format!("chmod 600 {}", keys.location),
        );
    }
    if live.storage.reachable == Some(false) {
        findings.push(
            ids::STORAGE_UNREACHABLE,
            "storage.url",
            format!(
                "the audit could not open the storage database ({}): {}",
                live.storage.url,
                live.storage.detail.as_deref().unwrap_or("unknown reason")
            ),
            "Run the audit where the gateway runs (same network, same config and environment), \
             after the gateway has started once; account and trail answers are missing until then.",
        );
    }
}
