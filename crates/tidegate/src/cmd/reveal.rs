//! `tidegate accounts reveal ID --reason "..."`: break-glass access to one stored credential.
//!
//! The only command that prints a credential. Without `--reason` (or with a blank one) it is
//! refused with exit 2; every attempt, refused or not, is appended to the admin audit trail
//! (actor `cli:$USER`, the account, the reason), and the plaintext is printed only after that
//! append succeeded. The logic lives in `tidegate_audit::breakglass`; this is the CLI shell.
//!
//! Registered as a subcommand of `accounts` (`AccountsCommand::Reveal(reveal::Args)` →
//! `cmd::reveal::run(&cli.config, args)`).

use std::path::Path;

use tidegate_audit::breakglass::{RevealError, reveal};
use tidegate_audit::trail::Actor;

use super::{Failure, load_config};

/// Options of `tidegate accounts reveal`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The integrated account id.
    pub id: String,
    /// Why the plaintext is needed (recorded in the admin audit trail). Required.
    #[arg(long)]
    pub reason: Option<String>,
}

/// Prints the account's credentials as JSON on stdout, after recording the reveal.
pub async fn run(config_path: &Path, args: Args) -> Result<(), Failure> {
    let config = load_config(config_path)?;
    match reveal(&config, &args.id, args.reason.as_deref(), &Actor::cli()).await {
        Ok(plaintext) => {
            println!("{}", plaintext.as_str());
            eprintln!(
                "recorded: reveal of account {} in the admin audit trail",
                args.id
            );
            Ok(())
        }
        Err(e @ RevealError::MissingReason) => Err(Failure::Invalid(format!(
            "accounts reveal: {e}\nusage: tidegate accounts reveal {} --reason \"...\"",
            args.id
        ))),
        Err(e) => Err(Failure::Runtime(e.to_string())),
    }
}
