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

/// mimalloc instead of glibc malloc: a proxied request allocates and frees dozens of small
/// objects (header maps, boxed futures and bodies, ids), and glibc's malloc/free were ~10 % of
/// the gateway's CPU under load (docs/decisions/0016-allocator.md has the numbers).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    let default_level = if matches!(cli.command, Command::Demo(_)) {
        "error"
    } else {
        "info"
    };
    // Spans are exported only by the long-running gateway; the other commands are short.
    let otlp_endpoint = match cli.command {
        Command::Serve(_) => configured_otlp_endpoint(&cli.config),
        _ => None,
    };
    // Declared before the runtime so that it is dropped after it: the last spans are flushed
    // once every task has finished.
    let _trace = init_tracing(default_level, otlp_endpoint);
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

/// `[logging] otlp_endpoint` of the config at `path`, if it loads (an invalid config is
/// reported by the command itself, with its locations).
fn configured_otlp_endpoint(path: &std::path::Path) -> Option<String> {
    tidegate_config::Config::load(path)
        .ok()
        .and_then(|config| config.logging.otlp_endpoint)
}

/// Diagnostics to stderr, filtered by `TIDEGATE_LOG` (default `default_level`), through
/// `tidegate_observe::trace::init`; spans also go to `otlp_endpoint` in a build with the `otel`
/// feature. Without the feature, or when the exporter cannot be built, a configured endpoint is
/// a warning and the gateway runs without export.
fn init_tracing(
    default_level: &str,
    otlp_endpoint: Option<String>,
) -> Option<tidegate_observe::trace::TraceGuard> {
    use tidegate_observe::trace::{TraceSettings, init};

    let settings = |otlp_endpoint| TraceSettings {
        otlp_endpoint,
        service_name: "tidegate".into(),
        filter_env: Some("TIDEGATE_LOG".into()),
        default_filter: Some(default_level.into()),
    };
    let exported = cfg!(feature = "otel")
        .then(|| otlp_endpoint.clone())
        .flatten();
    match init(&settings(exported.clone())) {
        Ok(guard) => {
            if otlp_endpoint.is_some() && exported.is_none() {
                tracing::warn!(
                    "`logging.otlp_endpoint` is set but OTLP export is not compiled into this \
                     build (rebuild with `--features otel`); spans are not exported"
                );
            }
            Some(guard)
        }
        Err(err) if exported.is_some() => {
            let guard = init(&settings(None)).ok();
            tracing::warn!(error = %err, "OTLP export could not be set up; spans are not exported");
            guard
        }
        Err(err) => {
            eprintln!("warning: tracing could not be set up: {err}");
            None
        }
    }
}
