//! CONTRACT §6 at the gateway: the boundary log of real proxied exchanges (gateway → sandbox
//! over sockets), and the canary scan — secrets planted in every place a caller can put them
//! appear in no log line, no metrics scrape and no problem response.

use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use http::Request;
use http_body_util::BodyExt;
use tidegate_observe::SinkTarget;
use tidegate_sandbox::{Sandbox, Script, Step};

use crate::support::*;

const COOKIE: &str = "cnryGwCookie4242";
const QUERY_TOKEN: &str = "cnryGwQueryTok5151";
const API_KEY_HEADER: &str = "cnryGwApiKey6161";
const EMAIL: &str = "cnry.gw.person@example.com";
const SSN: &str = "cnryGwSsn7171";
const PASSWORD: &str = "cnryGwPassword8181";
const REFRESH_TOKEN: &str = "cnryGwRefresh9191";
const CLIENT_SECRET: &str = "cnryGwClientSecret1212";
const WEBHOOK_SECRET: &str = "whsec_cnryGwWebhookSecret1313";

/// Everything the log writer writes (stands in for stdout).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// Waits (bounded) until `n` lines were written: the writer runs on its own thread.
    async fn wait_lines(&self, n: usize) -> String {
        for _ in 0..500 {
            let text = self.text();
            if text.lines().count() >= n {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("only these lines were written:\n{}", self.text());
    }
}

#[tokio::test]
async fn proxied_exchanges_are_logged_and_no_canary_leaks() {
    let sandbox = Sandbox::start().await.unwrap();
    // `leaky`: a connector whose `errors.message` copies a body field into `detail`.
    let toml = config_toml(
        &sandbox.base_url(),
        &format!(
            "\n[connectors.leaky]\nbase_url = \"{}\"\nauth = {{ type = \"none\" }}\n\
             errors = {{ code = \"error.code\", message = \"error.message & ' (' & user.password & ')'\" }}\n\
             \n[logging]\nbody_sample_rate = 1.0\n",
            sandbox.base_url()
        ),
    );
    let captured = Captured::default();
    let mut gateway =
        start_logged_gateway(&toml, SinkTarget::Writer(Box::new(captured.clone()))).await;
    let addr = gateway.addr;
    let url = |path: &str| format!("http://{addr}{path}");

    // 1. A sampled POST carrying secrets in the query, headers and body; /echo sends them all
    //    back inside its JSON answer (as text), the worst case for a logger.
    let body = serde_json::json!({
        "email": EMAIL, "ssn": SSN, "password": PASSWORD, "refresh_token": REFRESH_TOKEN,
        "client_secret": CLIENT_SECRET, "webhook_secret": WEBHOOK_SECRET, "name": "Visible Name",
    })
    .to_string();
    let resp = send(
        Request::post(url(&format!(
            "/proxy/crm/echo?access_token={QUERY_TOKEN}&limit=1"
        )))
        .header("authorization", format!("Bearer {API_KEY}"))
        .header("cookie", format!("sid={COOKIE}"))
        .header("x-api-key", API_KEY_HEADER)
        .header("content-type", "application/json")
        .header("x-request-id", "req-logging-1")
        .body(full(body))
        .unwrap(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let _ = resp.into_body().collect().await.unwrap();

    // 2. An upstream error: its problem response is scanned too.
    let resp = send(
        Request::get(url(&format!("/proxy/crm/status/500?api_key={QUERY_TOKEN}")))
            .header("authorization", format!("Bearer {API_KEY}"))
            .header("cookie", format!("sid={COOKIE}"))
            .body(empty())
            .unwrap(),
    )
    .await;
    let problem = expect_problem(resp, 500, "upstream_server_error")
        .await
        .to_string();

    // 3. An upstream error whose body echoes the caller's personal data and credentials
    //    (vendors do): the problem's `upstream.body`, `detail` and `upstream.message` are
    //    redacted, the non-sensitive members kept.
    sandbox.script(
        "/leaky",
        Script::new(vec![Step {
            status: Some(422),
            body: Some(serde_json::json!({
                "error": { "code": "INVALID_FIELD", "message": format!("rejected {EMAIL}") },
                "user": { "email": EMAIL, "ssn": SSN, "password": PASSWORD, "name": "Visible Name" },
                "request": { "headers": { "authorization": format!("Bearer {API_KEY}"),
                                          "cookie": format!("sid={COOKIE}") },
                             "query": format!("access_token={QUERY_TOKEN}"),
                             "form": format!("refresh_token={REFRESH_TOKEN}&client_secret={CLIENT_SECRET}") },
                "hint": format!("retry with Bearer {API_KEY}"),
                "webhook_secret": WEBHOOK_SECRET,
            })),
            ..Step::default()
        }]),
    );
    let resp = send(
        Request::get(url("/proxy/leaky/leaky"))
            .header("authorization", format!("Bearer {API_KEY}"))
            .body(empty())
            .unwrap(),
    )
    .await;
    let upstream_problem = expect_problem(resp, 422, "validation_failed").await;
    assert_eq!(upstream_problem["upstream"]["code"], "INVALID_FIELD");
    assert_eq!(
        upstream_problem["upstream"]["body"]["user"]["name"],
        "Visible Name"
    );
    assert_eq!(
        upstream_problem["upstream"]["body"]["user"]["email"],
        "[REDACTED]"
    );
    assert_eq!(
        upstream_problem["detail"],
        "rejected [REDACTED] ([REDACTED])"
    );
    let problem = format!("{problem}\n{upstream_problem}");

    let metrics = send(Request::get(url("/metrics")).body(empty()).unwrap()).await;
    let metrics = String::from_utf8(
        metrics
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();

    let log = captured.wait_lines(3).await;
    gateway.begin_shutdown();
    let _ = gateway.task.await;

    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let echo = lines
        .iter()
        .find(|l| l["request_id"] == "req-logging-1")
        .expect("the echo exchange was logged");
    assert_eq!(echo["connector"], "crm");
    assert_eq!(echo["environment_id"], "test");
    assert_eq!(echo["attempt"], 1);
    assert_eq!(echo["request"]["method"], "POST");
    assert!(
        echo["request"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/echo?access_token=[REDACTED]&limit=1"),
        "{echo}"
    );
    assert_eq!(echo["request"]["headers"]["cookie"], "[REDACTED]");
    assert_eq!(echo["request"]["headers"]["x-api-key"], "[REDACTED]");
    assert_eq!(echo["request"]["body"]["name"], "Visible Name");
    assert_eq!(echo["request"]["body"]["email"], "[REDACTED]");
    assert_eq!(echo["response"]["status"], 200);
    assert!(echo["response"]["body"].is_object(), "sampled: {echo}");
    assert!(
        lines
            .iter()
            .any(|l| l["outcome"] == "upstream_server_error"),
        "{log}"
    );

    for canary in [
        API_KEY,
        COOKIE,
        QUERY_TOKEN,
        API_KEY_HEADER,
        EMAIL,
        SSN,
        PASSWORD,
        REFRESH_TOKEN,
        CLIENT_SECRET,
        WEBHOOK_SECRET,
        ADMIN_KEY,
    ] {
        assert!(
            !log.contains(canary),
            "{canary} leaked into the boundary log:\n{log}"
        );
        assert!(!metrics.contains(canary), "{canary} leaked into /metrics");
        assert!(
            !problem.contains(canary),
            "{canary} leaked into a problem: {problem}"
        );
    }
    assert!(
        metrics.contains("tidegate_upstream_requests_total{connector=\"crm\""),
        "{metrics}"
    );
}

/// The boundary log reads the upstream's rate-limit headers and hands what it read to the
/// normalization layer further out: the caller gets the same normalized headers with the log
/// on as with it off, and the line carries the same figures.
#[tokio::test]
async fn rate_limit_headers_are_normalized_alike_with_and_without_the_log() {
    let sandbox = Sandbox::start().await.unwrap();
    let limited = Step::status(200)
        .with_header("x-ratelimit-limit", "100")
        .with_header("x-ratelimit-remaining", "42")
        .with_header("x-ratelimit-reset", "30");
    sandbox.script("/limited", Script::new(vec![limited]));
    let toml = config_toml(&sandbox.base_url(), "");
    let captured = Captured::default();
    let logged = start_logged_gateway(&toml, SinkTarget::Writer(Box::new(captured.clone()))).await;
    let plain = start_gateway(&toml).await;
    let mut seen = Vec::new();
    for gateway in [&logged, &plain] {
        let resp = send(
            get(&gateway.url("/proxy/crm/limited"))
                .body(empty())
                .unwrap(),
        )
        .await;
        assert_eq!(resp.status(), 200);
        let mut normalized: Vec<(String, String)> = resp
            .headers()
            .iter()
            .filter(|(name, _)| name.as_str().starts_with("ratelimit"))
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        normalized.sort();
        seen.push(normalized);
    }
    assert!(
        seen[0].contains(&("ratelimit-remaining".into(), "42".into())),
        "{:?}",
        seen[0]
    );
    assert_eq!(seen[0], seen[1], "with the log / without it");
    let line: serde_json::Value =
        serde_json::from_str(captured.wait_lines(1).await.lines().next().unwrap()).unwrap();
    assert_eq!(line["response"]["ratelimit_remaining"], 42);
    assert_eq!(line["response"]["ratelimit_reset"], 30);
}
