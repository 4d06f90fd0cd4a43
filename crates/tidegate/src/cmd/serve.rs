//! `tidegate serve [--listen ADDR]`: runs the gateway until SIGINT/SIGTERM, then drains
//! in-flight requests (bounded by `server.shutdown_grace`) and exits 0.

use std::{net::SocketAddr, path::Path};

use super::{Failure, load_config, stack_failure};

/// Options of `serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Listen address (overrides `server.listen`).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

/// Runs the gateway.
pub async fn run(config_path: &Path, args: Args) -> Result<(), Failure> {
    let mut config = load_config(config_path)?;
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    let listen = config.server.listen;
    let vault = open_vault(&config).await?;
    let _refresher = vault.as_ref().map(tidegate_vault::Vault::spawn_refresher);
    let trail = open_trail(&config).await?;
    // One JSON line per upstream exchange to stdout or `logging.file` (CONTRACT §6). The
    // writer thread flushes after every burst and ends with the process.
    // `TIDEGATE_BOUNDARY_LOG=off` exists only to measure the log's cost
    // (benches/proxy_throughput.sh LOG_COMPARE=1); it is announced loudly.
    let boundary_log = if std::env::var_os("TIDEGATE_BOUNDARY_LOG").is_some_and(|v| v == "off") {
        tracing::warn!(
            "TIDEGATE_BOUNDARY_LOG=off: the boundary log is DISABLED (benchmarking only)"
        );
        None
    } else {
        let (log, _detached_writer) = tidegate_stack::boundary_log::start(&config.logging)
            .map_err(|e| Failure::Runtime(format!("cannot open the boundary log: {e}")))?;
        Some(log)
    };
    let mut builder = tidegate_gateway::App::builder(config);
    if let Some(trail) = trail {
        builder = builder.extension(trail);
    }
    let log_sink = boundary_log.as_ref().map(|log| log.sink.clone());
    builder = builder.shared(tidegate_stack::Shared {
        vault: vault.clone(),
        boundary_log,
        ..Default::default()
    });
    if let Some(vault) = vault {
        builder = tidegate_gateway::vault::install(builder, vault);
    }
    let app = builder.build().map_err(|e| stack_failure(config_path, e))?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Failure::Runtime(format!("cannot listen on {listen}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    tracing::info!(listen = %local, "tidegate gateway listening");
    app.serve(listener, shutdown_signal())
        .await
        .map_err(|e| Failure::Runtime(format!("server failed: {e}")))?;
    if let Some(sink) = log_sink {
        // The last boundary-log lines, bounded so a stuck disk cannot hold the exit.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), sink.flush()).await;
    }
    tracing::info!("tidegate gateway stopped");
    Ok(())
}

/// Opens the credential vault (store, locks, master key). Without a master key the gateway
/// still serves `auth = none` connectors (with a warning), but refuses to start when a
/// connector needs stored credentials.
async fn open_vault(
    config: &tidegate_config::Config,
) -> Result<Option<tidegate_vault::Vault>, Failure> {
    let events = std::sync::Arc::new(tidegate_vault::from_config::webhook_sink(config));
    match tidegate_vault::Vault::open(config, events).await {
        Ok(vault) => Ok(Some(vault)),
        Err(e)
            if !config
                .connectors
                .values()
                .any(|c| c.auth.stores_credentials()) =>
        {
            tracing::warn!(error = %e, "credential vault unavailable; only auth = none connectors work (run `tidegate keys init`)");
            Ok(None)
        }
        Err(e) => Err(Failure::Runtime(format!(
            "credential vault: {e} (create a master key with `tidegate keys init`)"
        ))),
    }
}

/// Opens the admin audit trail (tidegate-audit), to which the gateway appends every `/admin`
/// call. With an admin key configured it is required (an admin API whose calls cannot be
/// recorded does not start); without one the admin API refuses everything, so a missing trail
/// is only a warning.
async fn open_trail(
    config: &tidegate_config::Config,
) -> Result<Option<tidegate_audit::trail::Trail>, Failure> {
    match tidegate_audit::trail::Trail::connect(&config.storage.url).await {
        Ok(trail) => Ok(Some(trail)),
        Err(e) if config.server.admin_key.is_none() => {
            tracing::warn!(error = %e, "admin audit trail unavailable");
            Ok(None)
        }
        Err(e) => Err(Failure::Runtime(format!("admin audit trail: {e}"))),
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
