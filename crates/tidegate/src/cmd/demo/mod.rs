//! `tidegate demo [--json]`: the offline demo (CONTRACT §1).
//!
//! Starts the built-in sandbox provider (with an OAuth token endpoint, a record store and a
//! write recorder), a "customer" receiver that verifies Standard Webhooks signatures, and the
//! gateway — assembled exactly as `tidegate serve` assembles it (real stacks, vault on a temp
//! SQLite with a temp master key, local locks, events runtime, file claim check) — on free
//! loopback ports, then walks through the runtime's features one step at a time.
//!
//! Every step CHECKS what it shows: the summary says which step misbehaved, and the command
//! exits 1 if any did. A step that cannot run says `skipped: <why>` and never counts as passed.
//! Needs no config and no network beyond loopback.
//!
//! Steps are data ([`STEPS`]); each is one async fn returning what it observed (or why the
//! observation is wrong), grouped by area in the submodules.

mod audit;
mod credentials;
mod events;
mod progress;
mod reconcile;
mod resilience;
mod setup;
mod upstream;

use std::{future::Future, pin::Pin, time::Instant};

use serde::Serialize;

use super::Failure;
pub use setup::Ctx;

/// Options of `demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the summary as JSON on stdout (the walkthrough goes to stderr).
    #[arg(long)]
    pub json: bool,
}

/// Why a step did not pass.
#[derive(Debug)]
pub enum NotPassed {
    /// The step ran and something did not behave as shown.
    Failed(String),
    /// The step could not run; never counted as passed.
    Skipped(String),
}

impl From<String> for NotPassed {
    fn from(why: String) -> Self {
        NotPassed::Failed(why)
    }
}

impl From<&str> for NotPassed {
    fn from(why: &str) -> Self {
        NotPassed::Failed(why.to_owned())
    }
}

/// A step's result: what it observed (one line for the summary).
pub type StepResult = Result<String, NotPassed>;

type StepFuture<'a> = Pin<Box<dyn Future<Output = StepResult> + Send + 'a>>;

struct DemoStep {
    name: &'static str,
    expected: &'static str,
    run: for<'a> fn(&'a Ctx) -> StepFuture<'a>,
}

/// The demo, in order.
const STEPS: &[DemoStep] = &[
    DemoStep {
        name: "token injection",
        expected: "the upstream receives the account's stored OAuth token as a bearer; the caller's key does not travel",
        run: |c| Box::pin(credentials::token_injection(c)),
    },
    DemoStep {
        name: "100 callers, expired token",
        expected: "100 concurrent calls on an expired token all succeed after exactly 1 refresh at the token endpoint",
        run: |c| Box::pin(credentials::one_refresh_for_many(c)),
    },
    DemoStep {
        name: "429 with vendor headers",
        expected: "HubSpot's 429 passed back with IETF RateLimit headers and Retry-After; not retried (upstream saw 1 call)",
        run: |c| Box::pin(upstream::rate_limited(c)),
    },
    DemoStep {
        name: "circuit breaker",
        expected: "a 5xx storm opens the breaker (upstream calls stop, 503 circuit_open + Retry-After); half-open after open_for; a good probe closes it",
        run: |c| Box::pin(resilience::breaker(c)),
    },
    DemoStep {
        name: "idempotent retry",
        expected: "a POST cut off by a connection reset is retried with the SAME injected Idempotency-Key",
        run: |c| Box::pin(resilience::idempotent_retry(c)),
    },
    DemoStep {
        name: "vendor error normalized",
        expected: "HubSpot's validation error body becomes an RFC 9457 problem+json with a fixed code",
        run: |c| Box::pin(upstream::vendor_error(c)),
    },
    DemoStep {
        name: "revoked grant",
        expected: "invalid_grant at refresh: 424 needs_reauth, account marked, a signed account.needs_reauth event delivered",
        run: |c| Box::pin(credentials::revoked_grant(c)),
    },
    DemoStep {
        name: "inbound webhook",
        expected: "a signed provider webhook is verified and delivered as record.changed; a bad signature gets 401",
        run: |c| Box::pin(events::inbound_webhook(c)),
    },
    DemoStep {
        name: "claim check",
        expected: "a large webhook travels as a claim URL: first GET 200, second 410, object deleted",
        run: |c| Box::pin(events::claim_check(c)),
    },
    DemoStep {
        name: "reconciliation",
        expected: "30% of change webhooks dropped; one run delivers exactly the missed ones (source=reconciliation)",
        run: |c| Box::pin(reconcile::dropped_webhooks(c)),
    },
    DemoStep {
        name: "audit summary",
        expected: "tidegate audit over the demo config: findings by severity, composite availability",
        run: |c| Box::pin(audit::summary(c)),
    },
];

/// One row of the summary.
#[derive(Debug, Serialize)]
struct StepReport {
    name: &'static str,
    passed: bool,
    skipped: bool,
    detail: String,
    expected: &'static str,
    millis: u128,
}

#[derive(Debug, Serialize)]
struct Summary {
    /// Every step that ran passed (skipped steps are listed, never counted as passed).
    passed: bool,
    steps: Vec<StepReport>,
    total_millis: u128,
}

/// Prints a walkthrough line: stdout, or stderr when stdout carries the JSON summary.
pub fn say(json: bool, line: &str) {
    if json {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}

/// `Ok` when `cond` holds, else the failure `why` describes.
pub fn check(cond: bool, why: impl FnOnce() -> String) -> Result<(), NotPassed> {
    if cond {
        Ok(())
    } else {
        Err(NotPassed::Failed(why()))
    }
}

/// Runs the demo.
pub async fn run(args: Args) -> Result<(), Failure> {
    let started = Instant::now();
    let spinner = progress::Spinner::start("starting the sandbox, receiver and gateway");
    let ctx = Ctx::start(args.json).await?;
    spinner.finish();
    ctx.say(format!(
        "tidegate demo: sandbox provider at {}, gateway at {}, customer receiver at {}\n",
        ctx.sandbox.base_url(),
        ctx.gateway,
        ctx.receiver.url()
    ));

    let mut reports = Vec::new();
    for (i, step) in STEPS.iter().enumerate() {
        ctx.say(format!("== {}. {} ==", i + 1, step.name));
        ctx.say(format!("   expect:   {}", step.expected));
        let t = Instant::now();
        let outcome = (step.run)(&ctx).await;
        let millis = t.elapsed().as_millis();
        let (passed, skipped, detail, verdict) = match outcome {
            Ok(detail) => (true, false, detail, "PASS"),
            Err(NotPassed::Failed(why)) => (false, false, why, "FAIL"),
            Err(NotPassed::Skipped(why)) => (false, true, format!("skipped: {why}"), "SKIPPED"),
        };
        ctx.say(format!("   observed: {detail}"));
        ctx.say(format!("   {verdict} ({millis} ms)\n"));
        reports.push(StepReport {
            name: step.name,
            passed,
            skipped,
            detail,
            expected: step.expected,
            millis,
        });
    }
    let json = ctx.json;
    ctx.shutdown().await;

    let summary = Summary {
        passed: reports.iter().all(|r| r.passed || r.skipped),
        steps: reports,
        total_millis: started.elapsed().as_millis(),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).expect("the summary serializes")
        );
    } else {
        print_table(&summary);
    }
    let failed: Vec<_> = summary
        .steps
        .iter()
        .filter(|s| !s.passed && !s.skipped)
        .map(|s| s.name)
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::Runtime(format!(
            "demo steps failed: {}",
            failed.join(", ")
        )))
    }
}

fn print_table(summary: &Summary) {
    let width = summary
        .steps
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(4);
    println!("Summary");
    println!(
        "  {:<3} {:<width$}  {:<7} {:>7}  detail",
        "#", "step", "result", "ms"
    );
    for (i, s) in summary.steps.iter().enumerate() {
        let result = match (s.passed, s.skipped) {
            (true, _) => "PASS",
            (false, true) => "SKIPPED",
            (false, false) => "FAIL",
        };
        println!(
            "  {:<3} {:<width$}  {:<7} {:>7}  {}",
            i + 1,
            s.name,
            result,
            s.millis,
            short(&s.detail, 90)
        );
    }
    let passed = summary.steps.iter().filter(|s| s.passed).count();
    let skipped = summary.steps.iter().filter(|s| s.skipped).count();
    println!(
        "  {passed}/{} steps passed{} in {:.1} s",
        summary.steps.len(),
        if skipped > 0 {
            format!(", {skipped} skipped")
        } else {
            String::new()
        },
        summary.total_millis as f64 / 1000.0
    );
}

fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(max - 1).collect();
        s.push('…');
        s
    }
}
