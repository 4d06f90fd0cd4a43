//! The canary scan: unique strings planted in every kind of secret must appear in no log line,
//! no stdout output, no metrics scrape and no problem response.

use http_body_util::BodyExt;
use serde_json::json;
use tidegate_core::{Problem, RequestContext, UpstreamProblem};
use tidegate_observe::attempt_metrics::AttemptMetricsLayer;
use tidegate_observe::{BoundaryLogLayer, LogSink, metrics as observe_metrics};
use tower::{Layer, Service, ServiceExt, util::BoxCloneService};

use crate::support::*;

const ACCESS_TOKEN: &str = "cnryAccessTok9f1c";
const REFRESH_TOKEN: &str = "cnryRefreshTok7d2e";
const CLIENT_SECRET: &str = "cnryClientSecret3b8a";
const API_KEY: &str = "cnryApiKey5e6f";
const WEBHOOK_SECRET: &str = "whsec_cnryWebhookSecret4a4a";
const CALLER_KEY: &str = "cnryCallerKey1234";
const COOKIE: &str = "cnryCookie8888";
const QUERY_TOKEN: &str = "cnryQueryTok2222";
const EMAIL: &str = "cnry.person@example.com";
const SSN: &str = "cnrySsn5555";
const PASSWORD: &str = "cnryPassword6666";

const CANARIES: &[&str] = &[
    ACCESS_TOKEN,
    REFRESH_TOKEN,
    CLIENT_SECRET,
    API_KEY,
    WEBHOOK_SECRET,
    CALLER_KEY,
    COOKIE,
    QUERY_TOKEN,
    EMAIL,
    SSN,
    PASSWORD,
];

/// An upstream that echoes secrets back in every way a vendor might.
fn leaky_upstream() -> Upstream {
    upstream_with(|path| {
        let echo = json!({
            "access_token": ACCESS_TOKEN, "refresh_token": REFRESH_TOKEN,
            "client_secret": CLIENT_SECRET, "webhook_secret": WEBHOOK_SECRET,
            "user": { "email": EMAIL, "ssn": SSN, "password": PASSWORD },
            "message": format!("token was Bearer {ACCESS_TOKEN}"),
        })
        .to_string();
        let status = if path.ends_with("/fail") { 401 } else { 200 };
        let mut resp = json_response(
            status,
            &[("set-cookie", &format!("sid={COOKIE}; HttpOnly"))],
            &echo,
        );
        resp.headers_mut()
            .insert("x-request-id", "up-7".parse().unwrap());
        Ok(resp)
    })
}

fn secret_body() -> String {
    json!({
        "grant_type": "refresh_token", "refresh_token": REFRESH_TOKEN,
        "client_secret": CLIENT_SECRET, "webhook_secret": WEBHOOK_SECRET,
        "contacts": [{ "email": EMAIL, "ssn": SSN, "password": PASSWORD, "name": "Visible Name" }],
    })
    .to_string()
}

#[test]
fn no_canary_reaches_logs_stdout_metrics_or_problems() {
    let stdout = Captured::default();
    let recorder = observe_metrics::prometheus_builder().build_recorder();
    let scrape = recorder.handle();
    let mut problems: Vec<Vec<u8>> = Vec::new();

    ::metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (sink, worker) = LogSink::start(stdout.target(), 1024).unwrap();
            let layer = BoundaryLogLayer::new(sink, contract_redactor().with_query_params(["api_key"]))
                .connector("salesforce")
                .sample_rate(1.0)
                .upstream_request_id_header("x-request-id");
            // The attempt metrics sit beside the log in every stack; their labels are scanned too.
            let mut svc: Upstream = BoxCloneService::new(
                AttemptMetricsLayer::new("salesforce").layer(layer.layer(leaky_upstream())),
            );
            let redactor = contract_redactor();

            let url = format!("https://x.example/services/data/sobjects?access_token={QUERY_TOKEN}&api_key={API_KEY}&limit=5");
            let header_sets: Vec<Vec<(&str, String)>> = vec![
                vec![("authorization", format!("Bearer {ACCESS_TOKEN}"))],
                vec![("authorization", format!("Bearer {CALLER_KEY}"))],
                vec![("x-api-key", API_KEY.to_owned()), ("cookie", format!("sid={COOKIE}"))],
                vec![("proxy-authorization", format!("Basic {CLIENT_SECRET}"))],
                vec![("webhook-secret", WEBHOOK_SECRET.to_owned()), ("x-note", format!("Bearer {ACCESS_TOKEN}"))],
            ];
            for (i, headers) in header_sets.iter().enumerate() {
                let mut hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
                hs.push(("content-type", "application/json"));
                let path = if i % 2 == 0 { "ok" } else { "fail" };
                let req = request("POST", &format!("{url}&p={path}").replace("sobjects?", &format!("sobjects/{path}?")), &hs, Some(&secret_body()));
                let resp = svc.ready().await.unwrap().call(req).await.unwrap();
                let status = resp.status().as_u16();
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                if status >= 400 {
                    // What error normalization does with an upstream error: a problem with the
                    // upstream body, redacted by the same redactor.
                    let ctx = RequestContext::new("salesforce").with_account("acc_1");
                    let mut problem = Problem::new(tidegate_core::ErrorCode::UpstreamUnauthorized, "upstream said: token was Bearer ".to_owned() + ACCESS_TOKEN).with_context(&ctx);
                    problem.upstream = Some(UpstreamProblem {
                        status,
                        code: Some("invalid_client".into()),
                        message: Some(format!("client {EMAIL} rejected")),
                        request_id: None,
                        body: serde_json::from_slice(&body).ok(),
                    });
                    redactor.problem(&mut problem);
                    let resp = problem.into_response();
                    problems.push(resp.into_body().collect().await.unwrap().to_bytes().to_vec());
                }
            }
            // A failure without a response whose cause mentions a credential.
            let mut failing: Upstream = BoxCloneService::new(
                BoundaryLogLayer::new(LogSink::channel(1).0, contract_redactor()).layer(upstream_with(|_| {
                    Err(unavailable(&format!("proxy refused Authorization: Bearer {ACCESS_TOKEN} for {EMAIL}")))
                })),
            );
            let err = failing
                .ready().await.unwrap()
                .call(request("GET", &url, &[], None)).await.unwrap_err();
            let mut problem = Problem::from(&err);
            redactor.problem(&mut problem);
            problems.push(problem.into_response().into_body().collect().await.unwrap().to_bytes().to_vec());

            drop(svc);
            drop(layer);
            drop(failing);
            worker.join().unwrap();
        });
    });

    let logged = stdout.text();
    assert_eq!(logged.lines().count(), 5, "one line per exchange");
    assert!(
        logged.contains("Visible Name"),
        "bodies were logged (sampled), so the scan means something"
    );
    assert!(logged.contains("limit=5"));
    let metrics_text = scrape.render();
    assert!(metrics_text.contains("tidegate_upstream_requests_total"));
    assert_eq!(problems.len(), 3);
    for canary in CANARIES {
        assert!(
            !logged.contains(canary),
            "{canary} leaked into the boundary log:\n{logged}"
        );
        assert!(
            !metrics_text.contains(canary),
            "{canary} leaked into metrics"
        );
        for p in &problems {
            let text = String::from_utf8_lossy(p);
            assert!(
                !text.contains(canary),
                "{canary} leaked into a problem: {text}"
            );
        }
    }
}
