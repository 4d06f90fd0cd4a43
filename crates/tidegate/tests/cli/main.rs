//! Tests that run the real `tidegate` binary.
#![forbid(unsafe_code)]

mod audit;
mod bench_configs;
mod canary_scan;
mod demo;
mod serve_events;
mod vault_kill9;
mod vault_multiprocess;

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

fn tidegate() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tidegate"));
    cmd.env_remove("TIDEGATE_CONFIG")
        .env("TIDEGATE_LOG", "warn");
    cmd
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A child process killed (and reaped) when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `tidegate serve` on `port` with `config`, killed when dropped.
fn serve(config: &std::path::Path, port: u16) -> Killed {
    Killed(
        tidegate()
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--config",
            ])
            .arg(config)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn check_reports_every_problem_as_path_line_col_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "bad.toml",
        r#"[server]
listen = "127.0.0.1:4000"
bogus_key = 1

[environments.production]
api_keys = ["${TIDEGATE_TEST_SURELY_UNSET_VAR}"]

[connectors.crm]
base_url = "https://api.example.com"
timeout = "15 parsecs"
"#,
    );
    let out = tidegate()
        .args(["check", "--config"])
        .arg(&path)
        .env_remove("TIDEGATE_TEST_SURELY_UNSET_VAR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty(), "results only on success");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    let prefix = format!("{}:", path.display());
    let locations: Vec<(usize, usize)> = lines
        .iter()
        .map(|l| {
            let rest = l.strip_prefix(&prefix).unwrap_or_else(|| panic!("{l}"));
            let mut parts = rest.splitn(3, ':');
            let line = parts.next().unwrap().parse().unwrap();
            let col = parts.next().unwrap().parse().unwrap();
            assert!(parts.next().unwrap().starts_with(' '), "{l}");
            (line, col)
        })
        .collect();
    assert_eq!(
        locations.iter().map(|l| l.0).collect::<Vec<_>>(),
        [3, 6, 10]
    );
    assert!(lines[0].contains("bogus_key"));
    assert!(lines[1].contains("TIDEGATE_TEST_SURELY_UNSET_VAR"));
    assert!(lines[2].contains("15 parsecs"));
}

/// A bad JSONata expression, an unknown `rate_limit.format` and an unknown `webhooks.verify`
/// are config errors at their own line and column (checked by the real engine and parsers),
/// also in a connector built on a preset. (A bad value supplied by the preset itself lands on
/// the `preset = ` line: the shipped presets have none, so tidegate-config's tests cover it.)
#[test]
fn check_locates_bad_expressions_formats_and_webhook_schemes() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "bad.toml",
        r#"[server]
[environments.production]
api_keys = ["k1"]

[connectors.crm]
base_url = "https://api.example.com"
errors = { message = "message", code = "errors[0.code" }
rate_limit = { format = "sforce-ish" }

[connectors.crm.webhooks]
secret = "s"
verify =  "stripe-v9"
id = "data.id"

[connectors.gh]
preset = "github"
auth = { type = "api_key" }
reconcile = { object = "issue", request = { path = "/issues" }, records = "$", id = "id", version = "updated_at +" }
"#,
    );
    let out = tidegate()
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    let p = path.display();
    assert_eq!(lines.len(), 4, "{stderr}");
    assert!(
        lines[0].starts_with(&format!(
            "{p}:7:40: `connectors.crm.errors.code`: invalid JSONata expression: "
        )),
        "{stderr}"
    );
    assert_eq!(
        lines[1],
        format!(
            "{p}:8:25: `connectors.crm.rate_limit.format`: unknown rate-limit format \"sforce-ish\"; \
             expected one of: plain, ietf, used/limit, shopify, sforce-limit-info, salesforce, \
             zendesk-endpoint, zendesk, hubspot, xero"
        ),
        "{stderr}"
    );
    assert!(
        lines[2].starts_with(&format!(
            "{p}:12:11: `connectors.crm.webhooks.verify`: unknown webhook signature scheme \"stripe-v9\"; expected one of: standard-webhooks, "
        )),
        "{stderr}"
    );
    assert!(
        lines[3].starts_with(&format!(
            "{p}:18:101: `connectors.gh.reconcile.version`: invalid JSONata expression: "
        )),
        "{stderr}"
    );
}

#[test]
fn check_prints_ok_for_a_valid_config_with_config_before_or_after_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "tidegate.toml",
        r#"[server]
[environments.production]
api_keys = ["k1"]
[environments.staging]
api_keys = ["k2"]
[connectors.crm]
base_url = "https://api.example.com"
"#,
    );
    for args in [
        vec![
            "check".into(),
            "--config".into(),
            path.clone().into_os_string(),
        ],
        vec![
            "--config".into(),
            path.clone().into_os_string(),
            "check".into(),
        ],
    ] {
        let out = tidegate().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            "ok: 1 connectors, 2 environments\n"
        );
    }
    // TIDEGATE_CONFIG, and the default ./tidegate.toml.
    let out = tidegate()
        .arg("check")
        .env("TIDEGATE_CONFIG", &path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = tidegate()
        .arg("check")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn bad_usage_exits_2_and_a_missing_config_exits_2() {
    let out = tidegate().arg("no-such-command").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = tidegate()
        .args(["check", "--config", "/definitely/not/here.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("/definitely/not/here.toml:1:1:"));
}

/// `serve` proxies through a real process and exits 0 on SIGTERM.
#[test]
fn serve_proxies_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    // The sandbox, as its own process (the hidden `sandbox` command prints its base URL).
    let mut sandbox = tidegate()
        .args(["sandbox", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut upstream = String::new();
    BufReader::new(sandbox.stdout.take().unwrap())
        .read_line(&mut upstream)
        .unwrap();
    let upstream = upstream.trim().to_owned();
    assert!(upstream.starts_with("http://127.0.0.1:"), "{upstream}");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let path = write(
        dir.path(),
        "tidegate.toml",
        &format!(
            r#"[server]
shutdown_grace = "5s"
[environments.test]
api_keys = ["cli-key"]
[connectors.crm]
base_url = "{upstream}"
auth = {{ type = "none" }}
"#
        ),
    );
    let mut serve = tidegate()
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--config",
        ])
        .arg(&path)
        .spawn()
        .unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let status = runtime.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let url = format!("http://127.0.0.1:{port}/proxy/crm/echo/hello?x=1");
        for _ in 0..200 {
            match client.get(&url).bearer_auth("cli-key").send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let echo: serde_json::Value = resp.json().await.unwrap();
                    assert_eq!(echo["path"], "/echo/hello");
                    assert_eq!(echo["query"], "x=1");
                    return status;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        panic!("tidegate serve did not come up");
    });
    assert_eq!(status, 200);

    let term = |pid: u32| {
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
    };
    assert!(term(serve.id()).success());
    let exit = serve.wait().unwrap();
    assert_eq!(exit.code(), Some(0), "serve exits 0 after SIGTERM");
    assert!(term(sandbox.id()).success());
    assert_eq!(sandbox.wait().unwrap().code(), Some(0));
}

/// `[logging] otlp_endpoint` in a build without the `otel` feature: `serve` starts anyway and
/// says on stderr that spans are not exported.
#[cfg(not(feature = "otel"))]
#[test]
fn serve_warns_that_otlp_export_is_not_compiled_in() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "tidegate.toml",
        r#"[server]
shutdown_grace = "1s"
[logging]
otlp_endpoint = "http://127.0.0.1:4318/v1/traces"
[environments.test]
api_keys = ["cli-key"]
[connectors.crm]
base_url = "http://127.0.0.1:9"
auth = { type = "none" }
"#,
    );
    let mut serve = tidegate()
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(serve.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let warned = loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if line.contains("OTLP export is not compiled into this build") => {
                break true;
            }
            Ok(line) => seen.push(line),
            Err(_) => break false,
        }
    };
    let _ = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status();
    let _ = serve.wait();
    assert!(warned, "no OTLP warning; stderr was:\n{}", seen.join("\n"));
}
