//! Appends CLI account and key operations to the admin audit trail (tidegate-audit), so the
//! audit report can summarize deletions and key rotations next to admin API calls.
//!
//! Recording is best effort for these commands (the operation has already happened; a warning
//! says when it could not be recorded). `accounts reveal` is stricter: it records before it shows
//! anything (see `reveal.rs`).

use std::path::Path;

use tidegate_audit::trail::{Actor, NewEntry, Outcome, Trail};

use super::Failure;

/// Records `action` on `target` by the CLI's operator, with the command's outcome.
pub async fn record(config_path: &Path, action: &str, target: &str, result: &Result<(), Failure>) {
    // An invalid config was already reported; there is no storage to record in.
    let Ok(config) = tidegate_config::Config::load(config_path) else {
        return;
    };
    let (outcome, detail) = match result {
        Ok(()) => (Outcome::Ok, None),
        Err(Failure::Invalid(_)) => (Outcome::Refused, None),
        Err(Failure::Runtime(why)) => (Outcome::Failed, Some(why.as_str())),
    };
    let recorded = match Trail::connect(&config.storage.url).await {
        Ok(trail) => trail
            .append_entry(NewEntry {
                actor: &Actor::cli(),
                action,
                target,
                outcome,
                detail,
            })
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = recorded {
        eprintln!("warning: {action} {target} was not recorded in the admin audit trail: {e}");
    }
}
