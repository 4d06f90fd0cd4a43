//! A load test of the circuit breaker: drives a steady request rate through a real connector
//! stack (`tidegate_stack::Stacks`, built from TOML) against the offline sandbox upstream,
//! which alternates between healthy and failing (503) bursts.
//!
//! Every second it prints one line: requests sent, successes, upstream 5xx answers,
//! `circuit_open` refusals, the calls that actually reached the upstream, and the breaker's
//! state. While the upstream fails, the breaker opens and the upstream's call count drops to
//! the odd half-open probe; when it recovers, the first probe closes the breaker again.
//!
//! ```text
//! cargo run --example breaker_loadtest -- --rps 500 --seconds 20
//! cargo run --example breaker_loadtest -- --healthy-s 2 --failing-s 5 --retry
//! LOADTEST_RPS=2000 cargo run --release --example breaker_loadtest
//! ```

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use clap::Parser;
use tidegate_config::Config;
use tidegate_core::{ErrorCode, body};
use tidegate_sandbox::{Sandbox, Script};
use tidegate_stack::Stacks;
use tower::ServiceExt;

#[derive(Parser, Debug)]
#[command(about = "Drive a request rate through a connector stack whose upstream fails in bursts")]
struct Args {
    /// Requests per second.
    #[arg(long, env = "LOADTEST_RPS", default_value_t = 500)]
    rps: u32,
    /// Length of the run, in seconds.
    #[arg(long, env = "LOADTEST_SECONDS", default_value_t = 20)]
    seconds: u64,
    /// Seconds the upstream stays healthy in each cycle.
    #[arg(long, env = "LOADTEST_HEALTHY_S", default_value_t = 4)]
    healthy_s: u64,
    /// Seconds the upstream answers 503 in each cycle.
    #[arg(long, env = "LOADTEST_FAILING_S", default_value_t = 4)]
    failing_s: u64,
    /// breaker.consecutive_failures.
    #[arg(long, default_value_t = 5)]
    consecutive_failures: u32,
    /// breaker.open_for, in seconds.
    #[arg(long, default_value_t = 1)]
    open_for_s: u64,
    /// Also enable budgeted retries (GETs are retried on 503 within a 20% budget).
    #[arg(long)]
    retry: bool,
}

const PATH: &str = "/flaky";

type CallFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = Result<http::Response<tidegate_core::Body>, tidegate_core::Error>,
            > + Send,
    >,
>;

/// `text` in ANSI color `code` when stdout is a terminal.
fn paint(code: u8, text: &str) -> String {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    ok: AtomicU64,
    upstream_5xx: AtomicU64,
    circuit_open: AtomicU64,
    other: AtomicU64,
}

impl Tally {
    fn take(&self) -> [u64; 5] {
        [
            self.sent.swap(0, Ordering::Relaxed),
            self.ok.swap(0, Ordering::Relaxed),
            self.upstream_5xx.swap(0, Ordering::Relaxed),
            self.circuit_open.swap(0, Ordering::Relaxed),
            self.other.swap(0, Ordering::Relaxed),
        ]
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let sandbox = Sandbox::new();
    let scripts = sandbox.state().scripts().clone();
    let sandbox = sandbox.bind(([127, 0, 0, 1], 0).into()).await?;
    sandbox.script(PATH, Script::statuses("200")?);

    let retry = if args.retry {
        "retry = { max_attempts = 3, on = [\"503\"], budget_percent = 20, backoff_base = \"20ms\" }"
    } else {
        ""
    };
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
[environments.loadtest]
api_keys = ["loadtest"]
[connectors.flaky]
base_url = "{base}"
timeout = "5s"
breaker = {{ consecutive_failures = {cf}, open_for = "{open}s", half_open_probes = 1 }}
{retry}
"#,
        base = sandbox.base_url(),
        cf = args.consecutive_failures,
        open = args.open_for_s,
    );
    let config = Config::from_str(&toml, std::path::Path::new("loadtest.toml"), &|_| None)?;
    let stacks = Stacks::from_config_value(config)?;
    let client = stacks.client("flaky")?;
    let breakers = stacks.shared().breakers.clone();

    println!(
        "breaker load test: {} req/s for {}s; upstream healthy {}s / failing (503) {}s; \
         breaker opens after {} consecutive failures for {}s{}",
        args.rps,
        args.seconds,
        args.healthy_s,
        args.failing_s,
        args.consecutive_failures,
        args.open_for_s,
        if args.retry { "; retries on" } else { "" }
    );
    println!(
        "{:>4}  {:<8} {:>6} {:>6} {:>6} {:>13} {:>5} {:>9}  breaker",
        "t", "upstream", "sent", "ok", "5xx", "circuit_open", "other", "upstream"
    );

    let tally = Arc::new(Tally::default());
    let totals = Arc::new(Mutex::new([0u64; 5]));
    let latencies = Arc::new(Mutex::new(Vec::<u32>::new()));
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));

    // The upstream's weather: healthy and failing bursts.
    let weather = {
        let failing = Arc::clone(&failing);
        let (healthy, broken) = (args.healthy_s, args.failing_s);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(healthy)).await;
                scripts.set(PATH, Script::statuses("503").expect("valid"));
                failing.store(true, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(broken)).await;
                scripts.set(PATH, Script::statuses("200").expect("valid"));
                failing.store(false, Ordering::Relaxed);
            }
        })
    };

    // The load: `rps` requests per second, sent in 100 slices per second.
    let load = {
        let tally = Arc::clone(&tally);
        let latencies = Arc::clone(&latencies);
        let rps = u64::from(args.rps);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut sent_total = 0u64;
            let started = Instant::now();
            loop {
                tick.tick().await;
                let due = rps * started.elapsed().as_millis() as u64 / 1000;
                while sent_total < due {
                    sent_total += 1;
                    tally.sent.fetch_add(1, Ordering::Relaxed);
                    // Boxed as a plain `dyn Future + Send` so the spawned task's type is simple.
                    let call: CallFuture = Box::pin(
                        client
                            .clone()
                            .oneshot(http::Request::get(PATH).body(body::empty()).unwrap()),
                    );
                    let tally = Arc::clone(&tally);
                    let latencies = Arc::clone(&latencies);
                    tokio::spawn(async move {
                        let began = Instant::now();
                        let result = call.await;
                        latencies
                            .lock()
                            .unwrap()
                            .push(began.elapsed().as_micros().min(u32::MAX as u128) as u32);
                        let counter = match result {
                            Ok(r) if r.status().is_success() => &tally.ok,
                            Ok(r) if r.status().is_server_error() => &tally.upstream_5xx,
                            Ok(_) => &tally.other,
                            Err(e) if e.code() == ErrorCode::CircuitOpen => &tally.circuit_open,
                            Err(_) => &tally.other,
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                    });
                }
            }
        })
    };

    let mut upstream_before = 0;
    let mut upstream_during_failure = 0u64;
    let mut refused_during_failure = 0u64;
    let mut second = tokio::time::interval(Duration::from_secs(1));
    second.tick().await;
    for t in 1..=args.seconds {
        second.tick().await;
        let now = tally.take();
        let upstream_now = sandbox.counters().get(PATH);
        let upstream = upstream_now - upstream_before;
        upstream_before = upstream_now;
        let is_failing = failing.load(Ordering::Relaxed);
        if is_failing {
            upstream_during_failure += upstream;
            refused_during_failure += now[3];
        }
        {
            let mut totals = totals.lock().unwrap();
            for (total, n) in totals.iter_mut().zip(now) {
                *total += n;
            }
        }
        let breaker = breakers
            .snapshot()
            .into_iter()
            .find(|b| b.key == "flaky")
            .map(|b| match b.state.as_str() {
                "open" => format!(
                    "{} (retry in {}s, opened {}x)",
                    paint(31, "open"),
                    b.retry_after_s,
                    b.opened_count
                ),
                "half_open" => paint(33, "half_open"),
                _ => format!(
                    "{} ({} failures in a row)",
                    paint(32, "closed"),
                    b.consecutive_failures
                ),
            })
            .unwrap_or_default();
        println!(
            "{t:>3}s  {:<8} {:>6} {:>6} {:>6} {:>13} {:>5} {:>7}/s  {breaker}",
            if is_failing { "FAILING" } else { "healthy" },
            now[0],
            now[1],
            now[2],
            now[3],
            now[4],
            upstream,
        );
    }
    load.abort();
    weather.abort();
    tokio::time::sleep(Duration::from_millis(200)).await; // let in-flight calls finish

    let totals = *totals.lock().unwrap();
    let mut lat = std::mem::take(&mut *latencies.lock().unwrap());
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p) as usize)
            .map(|us| format!("{:.2}ms", f64::from(*us) / 1000.0))
            .unwrap_or_else(|| "-".into())
    };
    let snapshot = breakers.snapshot();
    let opened = snapshot.iter().map(|b| b.opened_count).sum::<u64>();
    println!();
    println!("summary");
    println!(
        "  sent {}  ok {}  upstream 5xx {}  circuit_open {}  other {}",
        totals[0], totals[1], totals[2], totals[3], totals[4]
    );
    println!(
        "  upstream calls {}  (during failing bursts: {} reached the upstream, {} were refused by the breaker)",
        sandbox.counters().get(PATH),
        upstream_during_failure,
        refused_during_failure
    );
    println!("  breaker opened {opened} times");
    println!(
        "  latency p50 {}  p99 {}  max {}",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    sandbox.shutdown().await;
    Ok(())
}
