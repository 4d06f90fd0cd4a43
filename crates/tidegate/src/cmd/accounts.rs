//! `tidegate accounts list|show ID|delete ID`: the operator view of stored accounts. Reads
//! only metadata (no master key needed) and never prints a credential.

use std::path::Path;

use tidegate_vault::{AccountInfo, store::open_store};

use super::{Failure, load_config};

/// `tidegate accounts ...`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: AccountsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AccountsCommand {
    /// One line per account.
    List,
    /// One account's metadata.
    Show {
        /// The account id.
        id: String,
    },
    /// Delete an account and destroy its data key (crypto-shredding).
    Delete {
        /// The account id.
        id: String,
    },
    /// Break-glass: print one account's plaintext credentials. Requires --reason; every
    /// attempt is recorded in the admin audit trail (see `reveal.rs`).
    Reveal(super::reveal::Args),
}

fn or_dash(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

/// Runs the subcommand and appends it to the admin audit trail (added by tidegate-audit;
/// `reveal` records itself, before showing anything).
pub async fn run(config_path: &Path, args: Args) -> Result<(), Failure> {
    use tidegate_audit::trail::actions;
    let (action, target) = match args.command {
        AccountsCommand::Reveal(reveal) => return super::reveal::run(config_path, reveal).await,
        AccountsCommand::List => (actions::ACCOUNT_READ, "accounts".to_owned()),
        AccountsCommand::Show { ref id } => (actions::ACCOUNT_READ, format!("account:{id}")),
        AccountsCommand::Delete { ref id } => (actions::ACCOUNT_DELETE, format!("account:{id}")),
    };
    let result = run_command(config_path, args).await;
    super::trail::record(config_path, action, &target, &result).await;
    result
}

async fn run_command(config_path: &Path, args: Args) -> Result<(), Failure> {
    let config = load_config(config_path)?;
    let store = open_store(&config.storage.url)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    match args.command {
        AccountsCommand::List => {
            let records = store
                .list()
                .await
                .map_err(|e| Failure::Runtime(e.to_string()))?;
            println!(
                "{:<24} {:<14} {:<14} {:<13} {:<25} {:>9}",
                "ID", "CONNECTOR", "ENVIRONMENT", "STATUS", "EXPIRES_AT", "REFRESHES"
            );
            for r in &records {
                let a = AccountInfo::of(r);
                println!(
                    "{:<24} {:<14} {:<14} {:<13} {:<25} {:>9}",
                    a.id,
                    a.connector,
                    a.environment,
                    a.status.as_str(),
                    or_dash(&a.expires_at),
                    a.refresh_count
                );
            }
            println!("ok: {} accounts", records.len());
            Ok(())
        }
        AccountsCommand::Show { id } => {
            let Some(r) = store
                .get(&id)
                .await
                .map_err(|e| Failure::Runtime(e.to_string()))?
            else {
                return Err(Failure::Runtime(format!("unknown account {id:?}")));
            };
            let a = AccountInfo::of(&r);
            println!("id:                {}", a.id);
            println!("connector:         {}", a.connector);
            println!("environment:       {}", a.environment);
            println!("auth_type:         {}", r.auth_type);
            println!("status:            {}", a.status.as_str());
            println!("status_reason:     {}", or_dash(&a.status_reason));
            println!("expires_at:        {}", or_dash(&a.expires_at));
            println!("last_refreshed_at: {}", or_dash(&a.last_refreshed_at));
            println!("refresh_count:     {}", a.refresh_count);
            println!("master_key_id:     {}", a.key_id);
            println!(
                "credentials:       [encrypted, {} bytes]",
                r.credentials.len()
            );
            Ok(())
        }
        AccountsCommand::Delete { id } => {
            if store
                .delete(&id)
                .await
                .map_err(|e| Failure::Runtime(e.to_string()))?
            {
                println!("ok: deleted {id} (data key destroyed)");
                Ok(())
            } else {
                Err(Failure::Runtime(format!("unknown account {id:?}")))
            }
        }
        AccountsCommand::Reveal(reveal) => super::reveal::run(config_path, reveal).await,
    }
}
