//! `tidegate`: the command-line front of the gateway (CONTRACT §1).
//!
//! Exit codes: 0 ok, 1 runtime failure, 2 bad usage or invalid config. Diagnostics go to
//! stderr, results to stdout.
//!
//! Adding a command: write `src/cmd/NAME.rs` with an `Args` struct (clap `Args`) and a
//! `pub async fn run(config_path: &Path, args: Args) -> Result<(), Failure>`, declare it in
//! `src/cmd/mod.rs`, and add one variant to [`Command`] plus one arm in `main`.
#![forbid(unsafe_code)]

mod cmd;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "tidegate",
    version,
    about = "A resilient gateway to third-party APIs"
)]
struct Cli {
    /// The configuration file.
    #[arg(
        long,
        global = true,
        env = "TIDEGATE_CONFIG",
        default_value = "./tidegate.toml",
        value_name = "PATH"
    )]
    config: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway until SIGINT/SIGTERM, then drain in-flight requests and exit 0.
    Serve(cmd::serve::Args),
    /// Validate the configuration.
    Check,
    /// Print the integration audit runbook for this config (`--strict`: exit 2 on high findings).
    Audit(cmd::audit::Args),
    /// The offline demo: a sandbox provider and a gateway on loopback, checked step by step.
    Demo(cmd::demo::Args),
    /// The built-in provider presets: `list` them, or `show NAME` (its TOML).
    Presets(cmd::presets::Args),
    /// Master key: `init [--out FILE]` writes a new one (0600); `rotate` re-wraps data keys.
    Keys(cmd::keys::Args),
    /// Stored accounts: `list`, `show ID`, `delete ID` (never prints a credential).
    Accounts(cmd::accounts::Args),
    /// Webhook + polling reconciliation: `--connector NAME [--account ID] [--once]`.
    Reconcile(cmd::reconcile::Args),
    /// Run only the offline sandbox provider (for benchmarks and manual testing).
    #[command(hide = true)]
    Sandbox(cmd::sandbox::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo narrates the warnings it provokes (an opened breaker, a revoked grant, a
    // forged webhook) itself, so its default log level is `error`.
    init_tracing(if matches!(cli.command, Command::Demo(_)) {
        "error"
    } else {
        "info"
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => cmd::serve::run(&cli.config, args).await,
            Command::Check => cmd::check::run(&cli.config),
            Command::Audit(args) => cmd::audit::run(&cli.config, args).await,
            Command::Demo(args) => cmd::demo::run(args).await,
            Command::Presets(args) => cmd::presets::run(args),
            Command::Sandbox(args) => cmd::sandbox::run(args).await,
            Command::Reconcile(args) => cmd::reconcile::run(&cli.config, args).await,
            Command::Keys(args) => cmd::keys::run(&cli.config, args).await,
            Command::Accounts(args) => cmd::accounts::run(&cli.config, args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

/// Diagnostics to stderr, filtered by `TIDEGATE_LOG` (default `default_level`).
fn init_tracing(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TIDEGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}
