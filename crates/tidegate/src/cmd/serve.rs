//! `tidegate serve [--listen ADDR]`: runs the gateway until SIGINT/SIGTERM, then drains
//! in-flight requests (bounded by `server.shutdown_grace`) and exits 0.
//!
//! [`assemble`] builds the complete gateway (vault, events runtime, admin trail, boundary
//! log) from a config; `serve` and `demo` both use it, so the demo runs exactly what `serve`
//! runs.

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use tidegate_crypto::MasterKey;
use tidegate_events::wiring::EventsRuntime;

use super::{Failure, load_config, stack_failure};

/// Options of `serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Listen address (overrides `server.listen`).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

/// A gateway assembled from a config, not yet serving.
pub struct Assembled {
    /// The axum application.
    pub app: tidegate_gateway::App,
    /// The credential vault (`None`: no master key and only `auth = none` connectors).
    pub vault: Option<tidegate_vault::Vault>,
    /// Webhooks, events and the claim check (`None`: no master key, see [`assemble`]).
    pub events: Option<EventsRuntime>,
    /// The boundary log's sink (flushed at exit).
    pub log_sink: Option<tidegate_observe::LogSink>,
    /// What the app's stacks share (pool, breakers, vault): stacks built with it elsewhere
    /// (reconciliation) see the same breakers and credentials.
    pub shared: tidegate_stack::Shared,
    /// Webhook + polling reconciliation, when events run and a connector declares
    /// `[reconcile]`; its status is served at `GET /admin/reconcile`.
    pub reconciler: Option<tidegate_reconcile::Reconciler>,
}

/// Builds the gateway `config` describes.
///
/// The master key (KEK) seals both stored credentials and queued events, so without one:
/// a config with a connector that stores credentials is refused; otherwise the gateway runs
/// WITHOUT the events runtime (no `/webhooks/*`, `/claims/*` and no event delivery) and says
/// so in a warning. Running events with a throw-away key instead would queue events that no
/// restarted process could read — losing them silently, which is worse than not accepting them.
pub async fn assemble(
    config: tidegate_config::Config,
    config_path: &Path,
    boundary_log: bool,
) -> Result<Assembled, Failure> {
    let kek = load_master_key(&config)?;
    let events = match &kek {
        Some(kek) => Some(open_events(&config, kek.clone()).await?),
        None => None,
    };
    let vault = match &events {
        Some(events) => Some(
            tidegate_vault::Vault::open(&config, Arc::new(events.vault_sink()))
                .await
                .map_err(|e| Failure::Runtime(format!("credential vault: {e}")))?,
        ),
        None => None,
    };
    let trail = open_trail(&config).await?;
    // One JSON line per upstream exchange to stdout or `logging.file` (CONTRACT §6). The
    // writer thread flushes after every burst and ends with the process.
    let boundary_log = if !boundary_log {
        None
    } else {
        let (log, _detached_writer) = tidegate_stack::boundary_log::start(&config.logging)
            .map_err(|e| Failure::Runtime(format!("cannot open the boundary log: {e}")))?;
        Some(log)
    };
    let log_sink = boundary_log.as_ref().map(|log| log.sink.clone());
    let reconcile_config = config.clone();
    let mut builder = tidegate_gateway::App::builder(config);
    if let Some(trail) = trail {
        builder = builder.extension(trail);
    }
    let shared = tidegate_stack::Shared {
        vault: vault.clone(),
        boundary_log,
        ..Default::default()
    };
    builder = builder.shared(shared.clone());
    let reconciler =
        open_reconciler(&reconcile_config, config_path, &shared, &events, &vault).await?;
    if let Some(reconciler) = &reconciler {
        builder = builder.extension(reconciler.clone());
    }
    if let Some(vault) = vault.clone() {
        builder = tidegate_gateway::vault::install(builder, vault);
    }
    if let Some(events) = &events {
        // `/webhooks/*` (provider-signed) and `/claims/*` (single-use signed URL): no API
        // key by design.
        builder = builder.merge(events.router());
    }
    let app = builder.build().map_err(|e| stack_failure(config_path, e))?;
    Ok(Assembled {
        app,
        vault,
        events,
        log_sink,
        shared,
        reconciler,
    })
}

/// The reconciler, built over the app's own `Shared` (same pool, breakers and credentials),
/// when the events runtime exists and at least one connector declares `[reconcile]`.
async fn open_reconciler(
    config: &tidegate_config::Config,
    config_path: &Path,
    shared: &tidegate_stack::Shared,
    events: &Option<EventsRuntime>,
    vault: &Option<tidegate_vault::Vault>,
) -> Result<Option<tidegate_reconcile::Reconciler>, Failure> {
    let (Some(events), Some(vault)) = (events, vault) else {
        return Ok(None);
    };
    if config.connectors.values().all(|c| c.reconcile.is_none()) {
        return Ok(None);
    }
    tidegate_reconcile::wiring::from_config(
        config,
        shared.clone(),
        events.publisher.clone(),
        vault.store().clone(),
    )
    .await
    .map(Some)
    .map_err(|e| Failure::Invalid(format!("{}:1:1: reconcile: {e}", config_path.display())))
}

/// Runs the gateway.
pub async fn run(config_path: &Path, args: Args) -> Result<(), Failure> {
    let mut config = load_config(config_path)?;
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    let listen = config.server.listen;
    // `TIDEGATE_BOUNDARY_LOG=off` exists only to measure the log's cost
    // (benches/proxy_throughput.sh LOG_COMPARE=1); it is announced loudly.
    let log_off = std::env::var_os("TIDEGATE_BOUNDARY_LOG").is_some_and(|v| v == "off");
    if log_off {
        tracing::warn!(
            "TIDEGATE_BOUNDARY_LOG=off: the boundary log is DISABLED (benchmarking only)"
        );
    }
    let assembled = assemble(config, config_path, !log_off).await?;
    let _refresher = assembled
        .vault
        .as_ref()
        .map(tidegate_vault::Vault::spawn_refresher);
    if let Some(events) = &assembled.events {
        tokio::spawn(events.worker().run(
            Duration::from_secs(1),
            Duration::from_secs(30),
            shutdown_signal(),
        ));
    }
    // One scheduled run per account and `every` (first one `every` after start, jittered);
    // the lock on `locks.url` keeps it to one runner per account across processes.
    if let (Some(reconciler), Some(vault)) = (&assembled.reconciler, &assembled.vault) {
        tokio::spawn(
            tidegate_reconcile::Scheduler::new(reconciler.clone(), vault.store().clone())
                .run(shutdown_signal()),
        );
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Failure::Runtime(format!("cannot listen on {listen}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    tracing::info!(listen = %local, "tidegate gateway listening");
    assembled
        .app
        .serve(listener, shutdown_signal())
        .await
        .map_err(|e| Failure::Runtime(format!("server failed: {e}")))?;
    if let Some(sink) = assembled.log_sink {
        // The last boundary-log lines, bounded so a stuck disk cannot hold the exit.
        let _ = tokio::time::timeout(Duration::from_secs(2), sink.flush()).await;
    }
    tracing::info!("tidegate gateway stopped");
    Ok(())
}

/// Loads the master key. Missing is an error when a connector needs stored credentials;
/// otherwise a warning, and the gateway runs without a vault and without events.
fn load_master_key(config: &tidegate_config::Config) -> Result<Option<Arc<MasterKey>>, Failure> {
    match tidegate_vault::from_config::key_source(&config.keys).load() {
        Ok(key) => Ok(Some(Arc::new(key))),
        Err(e)
            if !config
                .connectors
                .values()
                .any(|c| c.auth.stores_credentials()) =>
        {
            tracing::warn!(error = %e, "no master key: only auth = none connectors work, and \
                inbound webhooks, events and the claim check are OFF (run `tidegate keys init`)");
            Ok(None)
        }
        Err(e) => Err(Failure::Runtime(format!(
            "master key: {e} (create one with `tidegate keys init`)"
        ))),
    }
}

/// The events runtime: inbound webhooks, the durable delivery queue and the claim check.
async fn open_events(
    config: &tidegate_config::Config,
    kek: Arc<MasterKey>,
) -> Result<EventsRuntime, Failure> {
    let store = tidegate_vault::store::open_store(&config.storage.url)
        .await
        .map_err(|e| Failure::Runtime(format!("storage: {e}")))?;
    let accounts = Arc::new(tidegate_events::vault::VaultAccounts::new(store));
    EventsRuntime::from_config(config, kek, accounts)
        .await
        .map_err(|e| Failure::Runtime(format!("events: {e}")))
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
