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
    let app = tidegate_gateway::App::from_config(config)
        .map_err(|e| stack_failure(config_path, e))?;
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
    tracing::info!("tidegate gateway stopped");
    Ok(())
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
