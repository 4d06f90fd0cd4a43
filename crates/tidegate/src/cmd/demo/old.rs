//! `tidegate demo [--json]`: the offline demo (CONTRACT §1).
//!
//! Starts the built-in sandbox provider and a gateway on free loopback ports, drives traffic
//! through what exists, and CHECKS every step's outcome: the summary says exactly which step
//! misbehaved, and the command exits 1 if any did. Needs no config and no network.
//!
//! Steps are data ([`STEPS`]); each is one async fn returning what it observed, or why the
//! observation is wrong. Later features add a step by adding an entry.

use std::{future::Future, pin::Pin, time::Instant};

use serde::Serialize;
use tidegate_sandbox::{Sandbox, SandboxHandle, Script, Step};

use super::Failure;

/// Options of `demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the summary as JSON on stdout (progress goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Size of the large streamed response, in MiB.
    #[arg(long, default_value_t = 256, value_name = "MIB")]
    pub stream_mib: u64,
}

/// Everything a step needs.
struct Ctx {
    sandbox: SandboxHandle,
    gateway: String,
    api_key: String,
    http: reqwest::Client,
    stream_bytes: u64,
}

impl Ctx {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway)
    }
}

type StepFuture<'a> = Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>>;

struct DemoStep {
    name: &'static str,
    expected: &'static str,
    run: for<'a> fn(&'a Ctx) -> StepFuture<'a>,
}

/// The demo, in order.
const STEPS: &[DemoStep] = &[
    DemoStep {
        name: "proxy a call",
        expected: "200, the sandbox's 2 contacts, a generated UUIDv7 X-Request-Id",
        run: |c| Box::pin(proxy_a_call(c)),
    },
    DemoStep {
        name: "request hygiene + X-Request-Id echo",
        expected: "upstream sees method/path/query/body; no Authorization or hop-by-hop; caller's id echoed",
        run: |c| Box::pin(request_hygiene(c)),
    },
    DemoStep {
        name: "unknown connector",
        expected: "404 application/problem+json, code unknown_connector",
        run: |c| Box::pin(unknown_connector(c)),
    },
    DemoStep {
        name: "wrong api key",
        expected: "401 application/problem+json, code unauthorized; upstream not called",
        run: |c| Box::pin(wrong_api_key(c)),
    },
    DemoStep {
        name: "request body over max_request_body",
        expected: "413 application/problem+json, code payload_too_large",
        run: |c| Box::pin(payload_too_large(c)),
    },
    DemoStep {
        name: "upstream resets the connection",
        expected: "502 application/problem+json, code upstream_unavailable",
        run: |c| Box::pin(upstream_reset(c)),
    },
    DemoStep {
        name: "large streamed response",
        expected: "every byte arrives, counted as it streams",
        run: |c| Box::pin(large_stream(c)),
    },
    DemoStep {
        name: "metrics",
        expected: "/metrics counts the demo's requests for connector crm",
        run: |c| Box::pin(metrics(c)),
    },
];

/// One row of the summary.
#[derive(Debug, Serialize)]
struct StepReport {
    step: &'static str,
    expected: &'static str,
    observed: String,
    passed: bool,
    millis: u128,
}

#[derive(Debug, Serialize)]
struct Summary {
    passed: bool,
    steps: Vec<StepReport>,
}

/// Runs the demo.
pub async fn run(args: Args) -> Result<(), Failure> {
    let progress = |line: String| {
        if args.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };

    let sandbox = Sandbox::start()
        .await
        .map_err(|e| Failure::Runtime(format!("cannot start the sandbox: {e}")))?;
    let api_key = random_key();
    let config = demo_config(&sandbox.base_url(), &api_key)?;
    let app = tidegate_gateway::App::from_config(config)
        .map_err(|e| Failure::Runtime(format!("cannot build the demo gateway: {e}")))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| Failure::Runtime(format!("cannot listen on loopback: {e}")))?;
    let gateway = format!(
        "http://{}",
        listener
            .local_addr()
            .map_err(|e| Failure::Runtime(e.to_string()))?
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.serve(listener, async {
        let _ = stopped.await;
    }));
    progress(format!(
        "tidegate demo: sandbox provider at {}, gateway at {gateway}\n",
        sandbox.base_url()
    ));

    let ctx = Ctx {
        sandbox,
        gateway,
        api_key,
        http: reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| Failure::Runtime(e.to_string()))?,
        stream_bytes: args.stream_mib * 1024 * 1024,
    };

    let mut reports = Vec::new();
    for (i, step) in STEPS.iter().enumerate() {
        progress(format!("== {}. {} ==", i + 1, step.name));
        progress(format!("   expect:   {}", step.expected));
        let started = Instant::now();
        let outcome = (step.run)(&ctx).await;
        let millis = started.elapsed().as_millis();
        let (passed, observed) = match outcome {
            Ok(observed) => (true, observed),
            Err(problem) => (false, problem),
        };
        progress(format!("   observed: {observed}"));
        progress(format!(
            "   {} ({millis} ms)\n",
            if passed { "PASS" } else { "FAIL" }
        ));
        reports.push(StepReport {
            step: step.name,
            expected: step.expected,
            observed,
            passed,
            millis,
        });
    }

    let _ = stop.send(());
    let _ = server.await;
    ctx.sandbox.shutdown().await;

    let summary = Summary {
        passed: reports.iter().all(|r| r.passed),
        steps: reports,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).expect("the summary serializes")
        );
    } else {
        print_table(&summary);
    }
    if summary.passed {
        Ok(())
    } else {
        let failed: Vec<_> = summary
            .steps
            .iter()
            .filter(|s| !s.passed)
            .map(|s| s.step)
            .collect();
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
        .map(|s| s.step.len())
        .max()
        .unwrap_or(4);
    println!("Summary");
    println!(
        "  {:<3} {:<width$}  {:<6} {:>8}",
        "#", "step", "result", "ms"
    );
    for (i, s) in summary.steps.iter().enumerate() {
        println!(
            "  {:<3} {:<width$}  {:<6} {:>8}",
            i + 1,
            s.step,
            if s.passed { "PASS" } else { "FAIL" },
            s.millis
        );
    }
    let passed = summary.steps.iter().filter(|s| s.passed).count();
    println!("  {passed}/{} steps passed", summary.steps.len());
}

fn random_key() -> String {
    let bytes: [u8; 16] = rand::random();
    format!("demo_{}", hex::encode(bytes))
}

fn demo_config(sandbox: &str, api_key: &str) -> Result<tidegate_config::Config, Failure> {
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
max_request_body = "1MiB"
shutdown_grace = "5s"

[environments.demo]
api_keys = ["{api_key}"]

[connectors.crm]
base_url = "{sandbox}"
timeout = "10s"
auth = {{ type = "none" }}
"#
    );
    tidegate_config::Config::from_str(&toml, std::path::Path::new("<demo>"), &|_| None)
        .map_err(|e| Failure::Runtime(format!("the built-in demo config is invalid:\n{e}")))
}

// ---- steps -------------------------------------------------------------------------------

fn check(cond: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(why()) }
}

async fn problem_of(response: reqwest::Response) -> Result<(u16, serde_json::Value), String> {
    let status = response.status().as_u16();
    let ctype = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    check(ctype == "application/problem+json", || {
        format!("status {status} with content-type {ctype:?}, not application/problem+json")
    })?;
    let body: serde_json::Value = response
        .json()
        .await
        .map_err(|e| format!("problem body is not JSON: {e}"))?;
    Ok((status, body))
}

async fn proxy_a_call(c: &Ctx) -> Result<String, String> {
    let response = c
        .http
        .get(c.url("/proxy/crm/crm/v3/objects/contacts?limit=2"))
        .bearer_auth(&c.api_key)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status().as_u16();
    let id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
    let contacts = body["results"].as_array().map_or(0, Vec::len);
    check(status == 200, || format!("status {status}"))?;
    check(contacts == 2, || format!("{contacts} contacts in {body}"))?;
    let version = uuid::Uuid::parse_str(&id).map(|u| u.get_version_num());
    check(version == Ok(7), || {
        format!("X-Request-Id {id:?} is not a UUIDv7")
    })?;
    Ok(format!("200 with {contacts} contacts, X-Request-Id {id}"))
}

async fn request_hygiene(c: &Ctx) -> Result<String, String> {
    let response = c
        .http
        .post(c.url("/proxy/crm/echo/demo?page=2&q=a%20b"))
        .bearer_auth(&c.api_key)
        .header("x-request-id", "demo-req-42")
        .header("connection", "x-hop-secret")
        .header("x-hop-secret", "must not travel")
        .header("x-custom", "travels")
        .header("content-type", "application/json")
        .body(r#"{"name":"Ada"}"#)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status().as_u16();
    let id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let echo: tidegate_sandbox::echo::Echo = response
        .json()
        .await
        .map_err(|e| format!("echo body: {e}"))?;
    check(status == 200, || format!("status {status}"))?;
    check(echo.method == "POST", || format!("method {}", echo.method))?;
    check(echo.path == "/echo/demo", || format!("path {}", echo.path))?;
    check(echo.query.as_deref() == Some("page=2&q=a%20b"), || {
        format!("query {:?}", echo.query)
    })?;
    check(echo.body.as_deref() == Some(r#"{"name":"Ada"}"#), || {
        format!("body {:?}", echo.body)
    })?;
    check(echo.header("x-custom") == Some("travels"), || {
        "x-custom did not arrive".into()
    })?;
    for stripped in ["authorization", "x-hop-secret", "connection"] {
        check(!echo.headers.contains_key(stripped), || {
            format!("{stripped} reached the upstream")
        })?;
    }
    check(id == "demo-req-42", || {
        format!("X-Request-Id echoed as {id:?}")
    })?;
    Ok(format!(
        "upstream got POST {}?{} with the body; Authorization and hop-by-hop stripped; X-Request-Id {id}",
        echo.path,
        echo.query.unwrap_or_default()
    ))
}

async fn unknown_connector(c: &Ctx) -> Result<String, String> {
    let response = c
        .http
        .get(c.url("/proxy/nope/anything"))
        .bearer_auth(&c.api_key)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let (status, body) = problem_of(response).await?;
    check(status == 404 && body["code"] == "unknown_connector", || {
        format!("{status} {body}")
    })?;
    Ok(format!(
        "{status} code={} detail={}",
        body["code"], body["detail"]
    ))
}

async fn wrong_api_key(c: &Ctx) -> Result<String, String> {
    let before = c.sandbox.counters().get("/echo/secret");
    let response = c
        .http
        .get(c.url("/proxy/crm/echo/secret"))
        .bearer_auth("not-the-key")
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let (status, body) = problem_of(response).await?;
    check(status == 401 && body["code"] == "unauthorized", || {
        format!("{status} {body}")
    })?;
    let after = c.sandbox.counters().get("/echo/secret");
    check(after == before, || "the upstream was called".into())?;
    Ok(format!("{status} code={}; upstream calls: 0", body["code"]))
}

async fn payload_too_large(c: &Ctx) -> Result<String, String> {
    let response = c
        .http
        .post(c.url("/proxy/crm/echo/upload"))
        .bearer_auth(&c.api_key)
        .body(vec![b'x'; 2 * 1024 * 1024])
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let (status, body) = problem_of(response).await?;
    check(status == 413 && body["code"] == "payload_too_large", || {
        format!("{status} {body}")
    })?;
    Ok(format!(
        "2 MiB against a 1 MiB limit: {status} code={}",
        body["code"]
    ))
}

async fn upstream_reset(c: &Ctx) -> Result<String, String> {
    c.sandbox.script("/flaky", Script::new(vec![Step::reset()]));
    let response = c
        .http
        .get(c.url("/proxy/crm/flaky"))
        .bearer_auth(&c.api_key)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let (status, body) = problem_of(response).await?;
    check(
        status == 502 && body["code"] == "upstream_unavailable" && body["retryable"] == true,
        || format!("{status} {body}"),
    )?;
    Ok(format!(
        "{status} code={} retryable={}",
        body["code"], body["retryable"]
    ))
}

async fn large_stream(c: &Ctx) -> Result<String, String> {
    let started = Instant::now();
    let mut response = c
        .http
        .get(c.url(&format!("/proxy/crm/stream/bytes/{}", c.stream_bytes)))
        .bearer_auth(&c.api_key)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status().as_u16();
    check(status == 200, || format!("status {status}"))?;
    let mut total = 0u64;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("stream broke after {total} bytes: {e}"))?
    {
        total += chunk.len() as u64;
    }
    check(total == c.stream_bytes, || {
        format!("{total} of {} bytes arrived", c.stream_bytes)
    })?;
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    Ok(format!(
        "{} MiB streamed through in {:.2} s ({:.0} MiB/s)",
        total / (1024 * 1024),
        secs,
        total as f64 / (1024.0 * 1024.0) / secs
    ))
}

async fn metrics(c: &Ctx) -> Result<String, String> {
    let text = c
        .http
        .get(c.url("/metrics"))
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("tidegate_proxy_requests_total{")
                && l.contains(r#"connector="crm""#)
                && l.contains(r#"status_class="2xx""#)
        })
        .ok_or("no 2xx series for connector crm")?;
    let count: u64 = line
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("unparsable line {line:?}"))?;
    check(count >= 3, || format!("only {count} 2xx requests counted"))?;
    Ok(line.to_owned())
}
