//! `tidegate keys init [--out FILE]` and `tidegate keys rotate [--old-key FILE]...`.
//!
//! `init` writes a new 256-bit master key (mode 0600) and refuses to overwrite an existing
//! file. `rotate` re-wraps every account's data key under the CURRENT master key (the one
//! `[keys]` points at); the previous key(s) come from `--old-key FILE` or the
//! `TIDEGATE_PREVIOUS_MASTER_KEY` environment variable. Only wrapped data keys are rewritten:
//! no credential is decrypted and no plaintext touches disk.

use std::path::{Path, PathBuf};

use tidegate_crypto::MasterKey;
use tidegate_vault::{Vault, from_config, lock::LocalLock, store::open_store};

use super::{Failure, load_config};

/// `tidegate keys ...`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, clap::Subcommand)]
enum KeysCommand {
    /// Write a new master key file (mode 0600); never overwrites.
    Init {
        /// Where to write it (default: the config's `keys.path`).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Re-wrap every stored data key under the current master key.
    Rotate {
        /// A previous master key file (repeatable). Also read: TIDEGATE_PREVIOUS_MASTER_KEY.
        #[arg(long = "old-key", value_name = "FILE")]
        old_keys: Vec<PathBuf>,
    },
}

/// Runs the subcommand and appends it to the admin audit trail (added by tidegate-audit; the
/// audit reports the last successful rotation from there).
pub async fn run(config_path: &Path, args: Args) -> Result<(), Failure> {
    use tidegate_audit::trail::actions;
    let (action, result) = match args.command {
        KeysCommand::Init { out } => (actions::KEYS_INIT, init(config_path, out)),
        KeysCommand::Rotate { old_keys } => {
            (actions::KEYS_ROTATE, rotate(config_path, &old_keys).await)
        }
    };
    super::trail::record(config_path, action, "keys", &result).await;
    result
}

fn init(config_path: &Path, out: Option<PathBuf>) -> Result<(), Failure> {
    let path = match out {
        Some(p) => p,
        None => {
            let config = load_config(config_path)?;
            match from_config::key_source(&config.keys) {
                tidegate_vault::keys::KeySource::File(p) => p,
                tidegate_vault::keys::KeySource::Env(var) => {
                    return Err(Failure::Invalid(format!(
                        "keys.provider is \"env\" ({var}); use --out FILE and put the file's content in {var}"
                    )));
                }
            }
        }
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent)
            .map_err(|e| Failure::Runtime(format!("cannot create {}: {e}", parent.display())))?;
    }
    let key = MasterKey::generate();
    key.write_new_file(&path)
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    println!(
        "ok: wrote master key {} to {} (mode 0600)",
        key.id(),
        path.display()
    );
    Ok(())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

async fn rotate(config_path: &Path, old_keys: &[PathBuf]) -> Result<(), Failure> {
    let config = load_config(config_path)?;
    let current = from_config::key_source(&config.keys)
        .load()
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    let store = open_store(&config.storage.url)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    let mut builder = Vault::builder(
        store,
        std::sync::Arc::new(LocalLock::new()),
        current.clone(),
    );
    for path in old_keys {
        builder = builder
            .previous_key(MasterKey::load_file(path).map_err(|e| Failure::Runtime(e.to_string()))?);
    }
    if std::env::var_os(from_config::PREVIOUS_KEY_ENV).is_some() {
        builder = builder.previous_key(
            MasterKey::from_env(from_config::PREVIOUS_KEY_ENV)
                .map_err(|e| Failure::Runtime(e.to_string()))?,
        );
    }
    let report = builder
        .build()
        .rotate_keys()
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    for (id, why) in &report.failed {
        eprintln!("{id}: {why}");
    }
    if report.failed.is_empty() {
        println!(
            "ok: re-wrapped {} data keys under master key {} ({} already current)",
            report.rewrapped,
            current.id(),
            report.already_current
        );
        Ok(())
    } else {
        Err(Failure::Runtime(format!(
            "{} accounts could not be re-wrapped (pass the key that wrapped them with --old-key); {} re-wrapped",
            report.failed.len(),
            report.rewrapped
        )))
    }
}
