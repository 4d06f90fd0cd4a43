//! `tidegate sandbox --listen ADDR` (hidden): only the offline sandbox provider, for
//! benchmarks and manual exploration. Prints its base URL on stdout.

use std::net::SocketAddr;

use super::Failure;

/// Options of `sandbox`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Listen address.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
}

/// Serves the sandbox until SIGINT/SIGTERM.
pub async fn run(args: Args) -> Result<(), Failure> {
    let handle = tidegate_sandbox::Sandbox::new()
        .bind(args.listen)
        .await
        .map_err(|e| Failure::Runtime(format!("cannot listen on {}: {e}", args.listen)))?;
    println!("{}", handle.base_url());
    handle.run_until(super::serve::shutdown_signal()).await;
    Ok(())
}
