//! Installs the credential vault into an [`AppBuilder`]: the handle for the admin account
//! routes, the `/connect` + `/oauth/callback` routes, and `/readyz` checks for `storage`,
//! `locks` and `keys`.
//!
//! ```no_run
//! # async fn run(config: tidegate_config::Config, vault: tidegate_vault::Vault) {
//! let app = tidegate_gateway::vault::install(tidegate_gateway::App::builder(config), vault).build();
//! # }
//! ```

use std::{future::Future, pin::Pin};

use tidegate_vault::Vault;

use crate::{AppBuilder, ReadinessCheck};

/// Registers `vault` (extension, connect routes, readiness checks).
pub fn install(builder: AppBuilder, vault: Vault) -> AppBuilder {
    builder
        .extension(vault.clone())
        .merge(crate::connect::routes())
        .readiness_check(VaultCheck {
            vault: vault.clone(),
            what: What::Storage,
        })
        .readiness_check(VaultCheck {
            vault: vault.clone(),
            what: What::Locks,
        })
        .readiness_check(VaultCheck {
            vault,
            what: What::Keys,
        })
}

#[derive(Clone, Copy)]
enum What {
    Storage,
    Locks,
    Keys,
}

struct VaultCheck {
    vault: Vault,
    what: What,
}

impl ReadinessCheck for VaultCheck {
    fn name(&self) -> &str {
        match self.what {
            What::Storage => "storage",
            What::Locks => "locks",
            What::Keys => "keys",
        }
    }

    fn check(&self) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move {
            match self.what {
                What::Storage => self.vault.store_ready().await.map_err(|e| e.to_string()),
                What::Locks => self.vault.locks_ready().await.map_err(|e| e.to_string()),
                // The master key was loaded (and its file permissions checked) at startup and
                // stays in memory; report its id's presence rather than re-reading the file.
                What::Keys => Ok(()),
            }
        })
    }
}
