//! Three real `tidegate serve` processes sharing PostgreSQL (fresh schema) and Redis, in front
//! of a real OAuth server that revokes the grant when a refresh token is reused
//! (oidc-provider 9, `tests/fixtures/oidc`): 150 concurrent proxied requests for one account
//! whose token has expired cause exactly ONE refresh grant, and every request succeeds.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use super::{Killed, free_port, serve, tidegate};

pub(super) fn random_hex() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Starts the oidc-provider fixture (installing its npm packages if needed); `None` (after a
/// loud SKIPPED) when node is not installed. Returns the process and its base URL. `envs`:
/// e.g. `OIDC_CLIENT_SECRET`, `OIDC_ACCESS_TTL`.
pub(super) fn start_oidc_fixture(envs: &[(&str, &str)]) -> Option<(Killed, String)> {
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/oidc");
    if Command::new("node").arg("--version").output().is_err() {
        eprintln!("SKIPPED: oidc-provider fixture test (node is not installed)");
        return None;
    }
    if !fixture.join("node_modules/oidc-provider").exists() {
        assert!(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&fixture)
                .status()
                .unwrap()
                .success()
        );
    }
    let mut node = Command::new("node")
        .args(["server.mjs", "0"])
        .envs(envs.iter().copied())
        .current_dir(&fixture)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(node.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let node = Killed(node);
    let oidc = format!(
        "http://127.0.0.1:{}",
        line.trim()
            .strip_prefix("LISTENING ")
            .expect("oidc fixture listening")
    );
    Some((node, oidc))
}

/// What the multi-process vault tests share: PostgreSQL (a fresh schema, dropped again when
/// this is dropped, also after a failed assertion), Redis, a master key, the oidc-provider
/// fixture, and a gateway config with connector `idp` in front of it (admin key `adm`, api
/// key `pk` of environment `production`).
pub(super) struct SharedServices {
    pub(super) runtime: tokio::runtime::Runtime,
    pub(super) config: std::path::PathBuf,
    pub(super) oidc: String,
    pub(super) redis: String,
    pg: sqlx::PgPool,
    schema: String,
    _dir: tempfile::TempDir,
    _node: Killed,
}

impl SharedServices {
    /// `None` (after a loud SKIPPED naming `test`) without the test services or node.
    /// `connector_extra`: more lines for `[connectors.idp]` (e.g. `timeout = "120s"`).
    pub(super) fn start(test: &str, connector_extra: &str) -> Option<Self> {
        let (Ok(db), Ok(redis)) = (
            std::env::var("TIDEGATE_TEST_DATABASE_URL"),
            std::env::var("TIDEGATE_TEST_REDIS_URL"),
        ) else {
            eprintln!(
                "SKIPPED: {test} (set TIDEGATE_TEST_DATABASE_URL and TIDEGATE_TEST_REDIS_URL)"
            );
            return None;
        };
        let (node, oidc) = start_oidc_fixture(&[])?;
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let schema = format!("tg_test_{}", random_hex());
        let pg = runtime.block_on(sqlx::PgPool::connect(&db)).unwrap();
        runtime
            .block_on(
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&pg),
            )
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("master.key");
        assert!(
            tidegate()
                .args(["keys", "init", "--out"])
                .arg(&key)
                .status()
                .unwrap()
                .success()
        );
        let sep = if db.contains('?') { '&' } else { '?' };
        let config = dir.path().join("tidegate.toml");
        std::fs::write(
            &config,
            format!(
                r#"[server]
admin_key = "adm"
[storage]
url = "{db}{sep}options%5Bsearch_path%5D={schema}"
[locks]
url = "{redis}"
[keys]
path = "{key}"
[environments.production]
api_keys = ["pk"]
[connectors.idp]
base_url = "{oidc}"
auth = {{ type = "oauth2", client_id = "tidegate", client_secret = "tidegate-fixture-secret", token_url = "{oidc}/token" }}
{connector_extra}
"#,
                key = key.display()
            ),
        )
        .unwrap();
        Some(SharedServices {
            runtime,
            config,
            oidc,
            redis,
            pg,
            schema,
            _dir: dir,
            _node: node,
        })
    }
}

impl Drop for SharedServices {
    fn drop(&mut self) {
        let drop_schema = format!("DROP SCHEMA {} CASCADE", self.schema);
        let _ = self
            .runtime
            .block_on(sqlx::query(sqlx::AssertSqlSafe(drop_schema)).execute(&self.pg));
    }
}

#[test]
fn three_gateway_processes_refresh_an_account_exactly_once() {
    let Some(services) = SharedServices::start("multi-process vault test", "") else {
        return;
    };
    let (runtime, oidc) = (&services.runtime, services.oidc.clone());
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let _gateways: Vec<Killed> = ports.iter().map(|p| serve(&services.config, *p)).collect();

    let account = format!("acc_{}", random_hex());
    let (statuses, grants) = runtime.block_on(async {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        for p in &ports {
            let mut up = false;
            for _ in 0..200 {
                if http.get(format!("http://127.0.0.1:{p}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
                    up = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(up, "gateway on port {p} did not become ready");
        }
        let minted: serde_json::Value = http.post(format!("{oidc}/test/mint")).send().await.unwrap().json().await.unwrap();
        let body = serde_json::json!({"connector": "idp", "environment": "production",
            "credentials": {"access_token": "expired", "refresh_token": minted["refresh_token"], "expires_at": "2020-01-01T00:00:00Z"}});
        let put = http.put(format!("http://127.0.0.1:{}/admin/accounts/{account}", ports[0])).bearer_auth("adm").json(&body).send().await.unwrap();
        assert_eq!(put.status(), 201);
        let calls: Vec<_> = (0..150)
            .map(|i| {
                let req = http
                    .get(format!("http://127.0.0.1:{}/proxy/idp/me", ports[i % 3]))
                    .bearer_auth("pk")
                    .header("x-integrated-account-id", &account);
                tokio::spawn(async move { req.send().await.map(|r| r.status().as_u16()).unwrap_or(0) })
            })
            .collect();
        let mut statuses = Vec::new();
        for c in calls {
            statuses.push(c.await.unwrap());
        }
        let stats: serde_json::Value = http.get(format!("{oidc}/test/stats")).send().await.unwrap().json().await.unwrap();
        (statuses, stats["refresh_grants"].as_u64().unwrap())
    });
    drop(services); // drops the schema
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(
        grants, 1,
        "three gateway processes refreshed the account exactly once"
    );
}
