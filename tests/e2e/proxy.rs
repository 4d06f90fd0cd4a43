//! CONTRACT §3/§4: what reaches the upstream, and what the gateway refuses.

use http::Request;
use tidegate_sandbox::{Script, Step, echo::Echo};

use crate::support::*;

async fn echo_of(resp: hyper::Response<hyper::body::Incoming>) -> Echo {
    assert_eq!(resp.status(), 200);
    serde_json::from_value(json(resp).await).unwrap()
}

#[tokio::test]
async fn method_path_query_headers_and_body_arrive_intact() {
    let (sandbox, gw) = start().await;
    let body = r#"{"properties":{"email":"ada@example.com"}}"#;
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let resp = send(
            Request::builder()
                .method(method)
                .uri(
                    gw.url("/proxy/crm/echo/crm/v3/objects/contacts/42?archived=false&q=a%20b&q=c"),
                )
                .header("authorization", format!("Bearer {API_KEY}"))
                .header("content-type", "application/json")
                .header("x-custom", "one")
                .header("x-multi", "a")
                .header("x-multi", "b")
                .body(full(body))
                .unwrap(),
        )
        .await;
        let echo = echo_of(resp).await;
        assert_eq!(echo.method, method);
        assert_eq!(echo.path, "/echo/crm/v3/objects/contacts/42");
        assert_eq!(echo.query.as_deref(), Some("archived=false&q=a%20b&q=c"));
        assert_eq!(echo.body.as_deref(), Some(body));
        assert_eq!(echo.body_bytes, body.len() as u64);
        assert_eq!(echo.header("content-type"), Some("application/json"));
        assert_eq!(echo.header("x-custom"), Some("one"));
        assert_eq!(echo.headers["x-multi"], serde_json::json!(["a", "b"]));
        // Host names the upstream, not the gateway.
        assert_eq!(echo.header("host"), Some(&*sandbox.addr().to_string()));
    }
    assert_eq!(
        sandbox.counters().get("/echo/crm/v3/objects/contacts/42"),
        4
    );
}

#[tokio::test]
async fn base_url_path_prefix_is_kept() {
    let sandbox = tidegate_sandbox::Sandbox::start().await.unwrap();
    let extra = format!(
        "[connectors.prefixed]\nbase_url = \"{}/echo/v2/\"\nauth = {{ type = \"none\" }}\n",
        sandbox.base_url()
    );
    let gw = start_gateway(&config_toml(&sandbox.base_url(), &extra)).await;
    let echo = echo_of(
        send(
            get(&gw.url("/proxy/prefixed/contacts?limit=1"))
                .body(empty())
                .unwrap(),
        )
        .await,
    )
    .await;
    assert_eq!(echo.path, "/echo/v2/contacts");
    assert_eq!(echo.query.as_deref(), Some("limit=1"));
}

#[tokio::test]
async fn caller_authorization_hop_by_hop_and_account_headers_are_not_forwarded() {
    let (_sandbox, gw) = start().await;
    let resp = send(
        get(&gw.url("/proxy/secure/echo"))
            .header("x-integrated-account-id", "acc_12345")
            .header("connection", "keep-alive, x-hop-named")
            .header("x-hop-named", "secret")
            .header("keep-alive", "timeout=5")
            .header("proxy-authorization", "Basic cHJveHk6cGFzcw==")
            .header("proxy-connection", "keep-alive")
            .header("te", "trailers")
            .header("trailer", "x-checksum")
            .header("x-kept", "yes")
            .body(empty())
            .unwrap(),
    )
    .await;
    let echo = echo_of(resp).await;
    for gone in [
        "authorization",
        "x-integrated-account-id",
        "x-hop-named",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
    ] {
        assert!(
            !echo.headers.contains_key(gone),
            "{gone} was forwarded: {:?}",
            echo.headers
        );
    }
    assert_eq!(echo.header("x-kept"), Some("yes"));
}

#[tokio::test]
async fn missing_or_wrong_api_key_is_a_401_problem_and_nothing_goes_upstream() {
    let (sandbox, gw) = start().await;
    let missing = send(
        Request::get(gw.url("/proxy/crm/echo"))
            .body(empty())
            .unwrap(),
    )
    .await;
    let body = expect_problem(missing, 401, "unauthorized").await;
    assert_eq!(body["retryable"], false);
    let wrong = send(
        Request::get(gw.url("/proxy/crm/echo"))
            .header("authorization", format!("Bearer {API_KEY}x"))
            .body(empty())
            .unwrap(),
    )
    .await;
    expect_problem(wrong, 401, "unauthorized").await;
    let basic = send(
        Request::get(gw.url("/proxy/crm/echo"))
            .header("authorization", format!("Basic {API_KEY}"))
            .body(empty())
            .unwrap(),
    )
    .await;
    expect_problem(basic, 401, "unauthorized").await;
    assert_eq!(sandbox.counters().total(), 0);
    // Another environment's key is a valid key (the environment follows from it).
    let other = send(
        Request::get(gw.url("/proxy/crm/echo"))
            .header("authorization", "Bearer other-env-key")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(other.status(), 200);
}

/// A keep-alive connection remembers the last key it had accepted (to skip the digest); a
/// different, wrong key on that same connection must still be refused.
#[tokio::test]
async fn one_connection_with_right_and_wrong_keys_gets_each_its_own_answer() {
    let (sandbox, gw) = start().await;
    let stream = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let (mut conn, driver) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(driver);
    let keys = [
        (API_KEY.to_string(), 200),
        (format!("{API_KEY}x"), 401),
        (API_KEY[..API_KEY.len() - 1].to_string(), 401),
        (String::new(), 401),
        (API_KEY.to_string(), 200),
        ("other-env-key".to_string(), 200),
        (format!("{API_KEY}x"), 401),
        (API_KEY.to_string(), 200),
    ];
    for (key, status) in &keys {
        conn.ready().await.expect("the connection stays open");
        let resp = conn
            .send_request(
                Request::get(format!("/proxy/crm/echo?k={}", key.len()))
                    .header("host", gw.addr.to_string())
                    .header("authorization", format!("Bearer {key}"))
                    .body(empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), *status, "key of {} bytes", key.len());
        json(resp).await;
    }
    let accepted = keys.iter().filter(|(_, status)| *status == 200).count();
    assert_eq!(sandbox.counters().total(), accepted as u64);
}

#[tokio::test]
async fn unknown_connector_is_a_404_problem() {
    let (_sandbox, gw) = start().await;
    for path in ["/proxy/nope/x", "/proxy/nope", "/proxy/"] {
        let resp = send(get(&gw.url(path)).body(empty()).unwrap()).await;
        let body = expect_problem(resp, 404, "unknown_connector").await;
        assert_eq!(body["retryable"], false);
    }
}

#[tokio::test]
async fn unknown_routes_are_404_not_found_problems() {
    let (_sandbox, gw) = start().await;
    let resp = send(Request::get(gw.url("/nope")).body(empty()).unwrap()).await;
    expect_problem(resp, 404, "not_found").await;
}

#[tokio::test]
async fn request_id_is_generated_as_uuid_v7_or_kept_and_echoed() {
    let (_sandbox, gw) = start().await;
    let resp = send(get(&gw.url("/proxy/crm/echo")).body(empty()).unwrap()).await;
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7);
    let echo = echo_of(resp).await;
    assert_eq!(
        echo.header("x-request-id"),
        Some(&*id),
        "the upstream sees the same id"
    );

    let resp = send(
        get(&gw.url("/proxy/crm/echo"))
            .header("x-request-id", "req_987654321")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(resp.headers()["x-request-id"], "req_987654321");

    // Not acceptable (over 128 chars): replaced by a generated one.
    let long = "a".repeat(129);
    let resp = send(
        get(&gw.url("/proxy/crm/echo"))
            .header("x-request-id", &long)
            .body(empty())
            .unwrap(),
    )
    .await;
    let id = resp.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);

    // Problems echo the caller's id too, in the header and the body.
    let resp = send(
        Request::get(gw.url("/proxy/crm/echo"))
            .header("x-request-id", "req_denied")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(resp.headers()["x-request-id"], "req_denied");
    let body = expect_problem(resp, 401, "unauthorized").await;
    assert_eq!(body["request_id"], "req_denied");
}

#[tokio::test]
async fn connectors_with_stored_credentials_require_an_account() {
    let (sandbox, gw) = start().await;
    let resp = send(get(&gw.url("/proxy/secure/echo")).body(empty()).unwrap()).await;
    let body = expect_problem(resp, 400, "invalid_request").await;
    assert_eq!(body["connector"], "secure");
    assert_eq!(sandbox.counters().total(), 0);
    // auth = none: optional.
    let resp = send(get(&gw.url("/proxy/crm/echo")).body(empty()).unwrap()).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn declared_body_over_the_limit_is_413_before_the_upstream() {
    let (sandbox, gw) = start().await;
    let resp = send(
        get(&gw.url("/proxy/crm/echo"))
            .method("POST")
            .body(full(vec![b'x'; 1024 * 1024 + 1]))
            .unwrap(),
    )
    .await;
    let body = expect_problem(resp, 413, "payload_too_large").await;
    assert_eq!(body["connector"], "crm");
    assert_eq!(sandbox.counters().total(), 0);
    // Exactly at the limit passes.
    let resp = send(
        get(&gw.url("/proxy/crm/echo"))
            .method("POST")
            .body(full(vec![b'x'; 1024 * 1024]))
            .unwrap(),
    )
    .await;
    assert_eq!(echo_of(resp).await.body_bytes, 1024 * 1024);
}

#[tokio::test]
async fn streamed_body_over_the_limit_is_413() {
    let (_sandbox, gw) = start().await;
    // No Content-Length: chunked frames, 2 MiB in total against a 1 MiB limit.
    let frames = (0..32).map(|_| {
        Ok::<_, std::convert::Infallible>(http_body::Frame::data(bytes::Bytes::from(vec![
            b'y';
            64 * 1024
        ])))
    });
    let body = tidegate_core::body::boxed(http_body_util::StreamBody::new(
        futures_util::stream::iter(frames),
    ));
    let resp = send(
        get(&gw.url("/proxy/crm/echo"))
            .method("POST")
            .body(body)
            .unwrap(),
    )
    .await;
    expect_problem(resp, 413, "payload_too_large").await;
}

#[tokio::test]
async fn upstream_statuses_pass_through_and_transport_failures_are_classified() {
    let (sandbox, gw) = start().await;
    sandbox.script("/flaky", Script::statuses("503,201").unwrap());
    let first = send(get(&gw.url("/proxy/crm/flaky")).body(empty()).unwrap()).await;
    assert_eq!(first.status(), 503);
    let second = send(get(&gw.url("/proxy/crm/flaky")).body(empty()).unwrap()).await;
    assert_eq!(second.status(), 201);

    sandbox.script("/reset", Script::new(vec![Step::reset()]));
    let resp = send(get(&gw.url("/proxy/crm/reset")).body(empty()).unwrap()).await;
    let body = expect_problem(resp, 502, "upstream_unavailable").await;
    assert_eq!(body["retryable"], true);
    assert_eq!(body["connector"], "crm");

    // Nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let extra = format!(
        "[connectors.down]\nbase_url = \"http://127.0.0.1:{port}\"\nauth = {{ type = \"none\" }}\n"
    );
    let gw2 = start_gateway(&config_toml(&sandbox.base_url(), &extra)).await;
    let resp = send(get(&gw2.url("/proxy/down/x")).body(empty()).unwrap()).await;
    expect_problem(resp, 502, "upstream_unavailable").await;
}

#[tokio::test]
async fn dot_segments_are_refused() {
    let (sandbox, gw) = start().await;
    let resp = send(
        get(&gw.url("/proxy/crm/a/../../admin"))
            .body(empty())
            .unwrap(),
    )
    .await;
    expect_problem(resp, 400, "invalid_request").await;
    assert_eq!(sandbox.counters().total(), 0);
}
