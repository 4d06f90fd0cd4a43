//! Calling HubSpot through a tidegate connector stack, in-process — offline.
//!
//! A Rust service does not need the gateway: it builds the same stacks from the same config
//! and calls its third-party APIs through them. Here the "HubSpot" is tidegate's sandbox
//! provider on a free loopback port, so the example runs without network or credentials:
//!
//! ```text
//! cargo run --example hubspot_client
//! ```
//!
//! What it shows: `Stacks::from_config(path)` → `stacks.client("hubspot")` → requests with a
//! relative URI, joined onto the connector's `base_url`; a HubSpot-shaped 429 passed through
//! (the gateway never retries a 429); a transport failure classified as
//! `upstream_unavailable`.
#![forbid(unsafe_code)]

use http::Request;
use http_body_util::BodyExt;
use tidegate_core::RequestContext;
use tidegate_sandbox::{Sandbox, Script, Step, Vendor};
use tidegate_stack::Stacks;
use tower::ServiceExt;

#[tokio::main]
async fn main() -> Result<(), tidegate_core::BoxError> {
    // 1. The provider: the sandbox stands in for api.hubapi.com.
    let sandbox = Sandbox::start().await?;
    println!("sandbox HubSpot at {}", sandbox.base_url());

    // 2. A config file with a `hubspot`-preset connector pointed at it. (The preset's OAuth is
    //    replaced by `none` here because this offline example has no stored account.)
    let dir = std::env::temp_dir().join(format!("tidegate-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("tidegate.toml");
    std::fs::write(
        &path,
        format!(
            r#"[server]

[environments.production]
api_keys = ["unused-in-process"]

[connectors.hubspot]
preset = "hubspot"
base_url = "{}"
timeout = "10s"
auth = {{ type = "none" }}
"#,
            sandbox.base_url()
        ),
    )?;

    // 3. The stacks, built once; a client per connector (cheap clones sharing one pool).
    let stacks = Stacks::from_config(&path)?;
    std::fs::remove_dir_all(&dir)?;
    let hubspot = stacks.client("hubspot")?;

    // 4. A call with a relative URI.
    let response = hubspot
        .clone()
        .oneshot(
            Request::get("/crm/v3/objects/contacts?limit=2").body(tidegate_core::body::empty())?,
        )
        .await?;
    let status = response.status();
    let body: serde_json::Value =
        serde_json::from_slice(&response.into_body().collect().await?.to_bytes())?;
    println!("\nGET /crm/v3/objects/contacts -> {status}");
    for contact in body["results"].as_array().into_iter().flatten() {
        println!(
            "  {} {} {}",
            contact["id"].as_str().unwrap_or("?"),
            contact["properties"]["firstname"].as_str().unwrap_or(""),
            contact["properties"]["lastname"].as_str().unwrap_or("")
        );
    }

    // 5. Your own request id (and account) travel in the RequestContext.
    let mut request = Request::post("/echo/crm/v3/objects/contacts")
        .header("content-type", "application/json")
        .body(tidegate_core::body::full(
            r#"{"properties":{"firstname":"Grace"}}"#,
        ))?;
    request
        .extensions_mut()
        .insert(RequestContext::new("hubspot").with_request_id("example-req-1"));
    let response = hubspot.clone().oneshot(request).await?;
    let echo: serde_json::Value =
        serde_json::from_slice(&response.into_body().collect().await?.to_bytes())?;
    println!(
        "\nPOST arrived upstream as {} {} with body {}",
        echo["method"], echo["path"], echo["body"]
    );

    // 6. HubSpot rate-limits: the 429 comes back as is (the caller owns the backoff).
    sandbox.script(
        "/crm/v3/objects/deals",
        Script::new(vec![Step::rate_limited(Vendor::Hubspot)]),
    );
    let response = hubspot
        .clone()
        .oneshot(Request::get("/crm/v3/objects/deals").body(tidegate_core::body::empty())?)
        .await?;
    println!(
        "\nGET /crm/v3/objects/deals -> {} (X-HubSpot-RateLimit-Remaining: {:?}); upstream calls: {}",
        response.status(),
        response.headers().get("x-hubspot-ratelimit-remaining"),
        sandbox.counters().get("/crm/v3/objects/deals")
    );

    // 7. A dropped connection is a classified error, not a panic or a hang.
    sandbox.script(
        "/crm/v3/objects/companies",
        Script::new(vec![Step::reset()]),
    );
    let err = hubspot
        .oneshot(Request::get("/crm/v3/objects/companies").body(tidegate_core::body::empty())?)
        .await
        .expect_err("the sandbox drops this connection");
    println!(
        "\nGET /crm/v3/objects/companies -> error code={} retryable={} ({})",
        err.code(),
        err.code().retryable(),
        err.detail()
    );
    Ok(())
}
