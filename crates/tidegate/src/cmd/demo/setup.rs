//! The demo's world: a temp directory (SQLite, master key, claim check, boundary log), the
//! sandbox provider (with its OAuth token endpoint, record store and write recorder), the
//! "customer" receiver, and the gateway assembled exactly as `tidegate serve` assembles it,
//! all on free loopback ports.

use std::{path::Path, time::Duration};

use base64::Engine;

use tidegate_events::wiring::EventsRuntime;
use tidegate_sandbox::{
    Sandbox, SandboxHandle,
    idempotency::{self, WriteRecorder},
    oauth::{self, OAuthServer},
    receiver::Receiver,
    records::{self, RecordStore},
};

use super::{Failure, say};
use crate::cmd::serve;

/// The OAuth client the demo's HubSpot connector uses at the sandbox's token endpoint.
pub const CLIENT_ID: &str = "demo-client";
/// Signs the record store's webhooks (Standard Webhooks).
pub const RECORDS_WEBHOOK_SECRET: &str = "whsec_ZGVtby1yZWNvcmRzLXdlYmhvb2stc2VjcmV0LTAx";
/// Breaker `open_for` of the `inventory` connector (short, so the demo can wait it out).
pub const OPEN_FOR: Duration = Duration::from_secs(1);
/// Consecutive failures that open the `inventory` breaker.
pub const BREAKER_FAILURES: u32 = 3;
/// Payloads above this go to the claim check.
pub const INLINE_LIMIT: usize = 16 * 1024;

/// Everything a step needs.
pub struct Ctx {
    /// The temp directory (removed at the end).
    pub dir: tempfile::TempDir,
    pub sandbox: SandboxHandle,
    pub oauth: OAuthServer,
    pub records: RecordStore,
    pub writes: WriteRecorder,
    pub receiver: Receiver,
    /// `http://127.0.0.1:PORT` of the gateway.
    pub gateway: String,
    pub api_key: String,
    pub admin_key: String,
    pub http: reqwest::Client,
    pub config: tidegate_config::Config,
    pub events: EventsRuntime,
    pub shared: tidegate_stack::Shared,
    /// Where the claim check keeps its objects.
    pub claims_dir: std::path::PathBuf,
    pub json: bool,
    stop: tokio::sync::watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

fn random_hex(bytes: usize) -> String {
    hex::encode((0..bytes).map(|_| rand::random::<u8>()).collect::<Vec<_>>())
}

fn runtime(e: impl std::fmt::Display) -> Failure {
    Failure::Runtime(e.to_string())
}

impl Ctx {
    /// Starts everything.
    pub async fn start(json: bool) -> Result<Ctx, Failure> {
        let dir = tempfile::tempdir().map_err(runtime)?;
        let client_secret = random_hex(16);
        let oauth = OAuthServer::new(CLIENT_ID, &client_secret);
        let records = RecordStore::new("demo record");
        let writes = WriteRecorder::default();
        let sandbox = Sandbox::new()
            .merge(oauth::router(oauth.clone()))
            .merge(records::router(records.clone()))
            .merge(idempotency::router(writes.clone()))
            .bind("127.0.0.1:0".parse().expect("loopback"))
            .await
            .map_err(|e| Failure::Runtime(format!("cannot start the sandbox: {e}")))?;
        let customer_secret = format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 24]>())
        );
        let receiver = Receiver::start(&customer_secret)
            .await
            .map_err(|e| Failure::Runtime(format!("cannot start the receiver: {e}")))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Failure::Runtime(format!("cannot listen on loopback: {e}")))?;
        let gateway = format!("http://{}", listener.local_addr().map_err(runtime)?);

        // The key beside, not inside, the data directory (as `tidegate audit` asks).
        let key_path = dir.path().join("keys").join("master.key");
        std::fs::create_dir_all(dir.path().join("keys")).map_err(runtime)?;
        std::fs::create_dir_all(dir.path().join("data")).map_err(runtime)?;
        tidegate_crypto::MasterKey::generate()
            .write_new_file(&key_path)
            .map_err(|e| Failure::Runtime(format!("cannot write the demo master key: {e}")))?;
        let claims_dir = dir.path().join("claims");
        std::fs::create_dir_all(&claims_dir).map_err(runtime)?;
        let api_key = format!("demo_{}", random_hex(16));
        let admin_key = format!("adm_{}", random_hex(16));
        let config = demo_config(&DemoConfig {
            dir: dir.path(),
            gateway: &gateway,
            sandbox: &sandbox.base_url(),
            receiver: &receiver.url(),
            customer_secret: &customer_secret,
            client_secret: &client_secret,
            api_key: &api_key,
            admin_key: &admin_key,
        })?;

        let assembled = serve::assemble(config.clone(), Path::new("<demo>"), true).await?;
        let events = assembled
            .events
            .clone()
            .ok_or_else(|| Failure::Runtime("the demo gateway has no events runtime".into()))?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        tokio::spawn(events.worker().run(
            Duration::from_millis(25),
            Duration::from_secs(30),
            until_stopped(stopped.clone()),
        ));
        let app = assembled.app;
        let server_stop = until_stopped(stopped);
        let server = tokio::spawn(async move {
            let _ = app.serve(listener, server_stop).await;
        });
        let http = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(200)
            .build()
            .map_err(runtime)?;
        Ok(Ctx {
            dir,
            sandbox,
            oauth,
            records,
            writes,
            receiver,
            gateway,
            api_key,
            admin_key,
            http,
            config,
            events,
            shared: assembled.shared,
            claims_dir,
            json,
            stop,
            server,
        })
    }

    /// Stops the gateway, the worker and the sandbox; removes the temp directory.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.server).await;
        self.sandbox.shutdown().await;
        drop(self.dir);
    }

    /// A progress / explanation line (stdout, or stderr with `--json`).
    pub fn say(&self, line: impl AsRef<str>) {
        say(self.json, line.as_ref());
    }

    /// `{gateway}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway)
    }

    /// A proxied request as a caller sends it (environment key, optional account).
    pub fn proxy(
        &self,
        method: reqwest::Method,
        path: &str,
        account: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut r = self
            .http
            .request(method, self.url(&format!("/proxy{path}")))
            .bearer_auth(&self.api_key);
        if let Some(account) = account {
            r = r.header("x-integrated-account-id", account);
        }
        r
    }

    /// `PUT /admin/accounts/{id}`; `Ok` only for 200/201.
    pub async fn put_account(
        &self,
        id: &str,
        connector: &str,
        credentials: serde_json::Value,
    ) -> Result<(), String> {
        let response = self
            .http
            .put(self.url(&format!("/admin/accounts/{id}")))
            .bearer_auth(&self.admin_key)
            .json(&serde_json::json!({
                "connector": connector, "environment": "demo", "credentials": credentials,
            }))
            .send()
            .await
            .map_err(|e| format!("PUT /admin/accounts/{id}: {e}"))?;
        let status = response.status().as_u16();
        if status == 200 || status == 201 {
            Ok(())
        } else {
            let body = response.text().await.unwrap_or_default();
            Err(format!("PUT /admin/accounts/{id}: {status} {body}"))
        }
    }

    /// `GET /admin/{path}` as JSON.
    pub async fn admin_get(&self, path: &str) -> Result<serde_json::Value, String> {
        let response = self
            .http
            .get(self.url(&format!("/admin/{path}")))
            .bearer_auth(&self.admin_key)
            .send()
            .await
            .map_err(|e| format!("GET /admin/{path}: {e}"))?;
        let status = response.status().as_u16();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| format!("GET /admin/{path}: {e}"))?;
        if status == 200 {
            Ok(body)
        } else {
            Err(format!("GET /admin/{path}: {status} {body}"))
        }
    }

    /// Waits (up to `timeout`) until the receiver holds verified events matching `pred`
    /// numbering at least `n`; returns the matching ones.
    pub async fn wait_events(
        &self,
        n: usize,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> Vec<serde_json::Value> {
        let events = self
            .receiver
            .wait_for(timeout, |all| all.iter().filter(|e| pred(e)).count() >= n)
            .await;
        events.into_iter().filter(|e| pred(e)).collect()
    }
}

struct DemoConfig<'a> {
    dir: &'a Path,
    gateway: &'a str,
    sandbox: &'a str,
    receiver: &'a str,
    customer_secret: &'a str,
    client_secret: &'a str,
    api_key: &'a str,
    admin_key: &'a str,
}

/// The demo's configuration: one environment delivering to the receiver, and four
/// connectors, each showing one side of the runtime.
fn demo_config(c: &DemoConfig<'_>) -> Result<tidegate_config::Config, Failure> {
    let dir = c.dir.display();
    let DemoConfig {
        gateway,
        sandbox,
        receiver,
        customer_secret,
        client_secret,
        api_key,
        admin_key,
        ..
    } = *c;
    let open_for = format!("{}ms", OPEN_FOR.as_millis());
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
public_url = "{gateway}"
admin_key = "{admin_key}"
shutdown_grace = "2s"

[storage]
url = "sqlite://{dir}/data/tidegate.db"

[locks]
url = "local"

[keys]
provider = "file"
path = "{dir}/keys/master.key"

[claim_check]
url = "file://{dir}/claims"
inline_limit = "{inline}B"
ttl = "5m"

[logging]
file = "{dir}/boundary.log"

[events]
retry_schedule = ["0s", "200ms", "500ms", "1s"]
delivery_timeout = "5s"
dead_letter_ttl = "10m"

[environments.demo]
api_keys = ["{api_key}"]
webhook_url = "{receiver}"
webhook_secret = "{customer_secret}"

# HubSpot as the preset describes it (rate-limit headers, error shapes), its OAuth token
# endpoint played by the sandbox.
[connectors.hubspot]
preset = "hubspot"
base_url = "{sandbox}"
timeout = "10s"
auth = {{ type = "oauth2", client_id = "{CLIENT_ID}", client_secret = "{client_secret}", token_url = "{sandbox}/oauth/token" }}
breaker = {{ consecutive_failures = 5, open_for = "30s", half_open_probes = 1 }}
retry = {{ max_attempts = 3, budget_percent = 20 }}
webhooks = {{ secret = "{client_secret}" }}
sla = {{ uptime = "99.95%" }}

# An upstream about to fail: a breaker that opens after {failures} failures, for {open_for}.
[connectors.inventory]
base_url = "{sandbox}"
timeout = "5s"
auth = {{ type = "none" }}
breaker = {{ consecutive_failures = {failures}, open_for = "{open_for}", half_open_probes = 1 }}
retry = {{ max_attempts = 1 }}
sla = {{ uptime = "99.9%" }}

# A payments-style API with idempotency keys on writes: a reset write is retried safely.
[connectors.orders]
base_url = "{sandbox}"
timeout = "5s"
auth = {{ type = "none" }}
breaker = {{ consecutive_failures = 5, open_for = "30s", half_open_probes = 1 }}
retry = {{ max_attempts = 3, on = ["connect", "reset", "502", "503", "504"], budget_percent = 20 }}
idempotency = {{ header = "Idempotency-Key", methods = ["POST", "PATCH"] }}
sla = {{ uptime = "99.99%" }}

# A record API with change webhooks (Standard Webhooks) and a list endpoint to reconcile.
[connectors.records]
base_url = "{sandbox}"
timeout = "10s"
auth = {{ type = "none" }}
breaker = {{ consecutive_failures = 5, open_for = "30s", half_open_probes = 1 }}
sla = {{ uptime = "99.9%" }}
webhooks = {{ verify = "standard-webhooks", secret = "{RECORDS_WEBHOOK_SECRET}", object = "data.object", id = "data.id", version = "data.version", event_id = "id" }}

[connectors.records.reconcile]
object = "record"
request = {{ path = "/v1/records", query = {{ updated_since_ms = "{{since}}", after = "{{page}}", limit = "{{page_size}}" }} }}
records = "results"
id = "id"
version = "version"
next_page = "paging.next.after"
since_format = "unix_ms"
overlap = "2h"
page_size = 100
every = "24h"
"#,
        inline = INLINE_LIMIT,
        failures = BREAKER_FAILURES,
    );
    tidegate_config::Config::from_str(&toml, Path::new("<demo>"), &|_| None)
        .map_err(|e| Failure::Runtime(format!("the built-in demo config is invalid:\n{e}")))
}

/// Counts the files under `dir` (recursively).
pub fn files_under(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() { files_under(&path) } else { 1 }
                })
                .sum()
        })
        .unwrap_or(0)
}
