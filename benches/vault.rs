//! Credential vault benchmarks (docs/performance.md, "Credential vault").
//!
//! - `vault/cached_lookup`: the request hot path — a cached, decrypted credential looked up
//!   by account id (target ≤ 1 µs). Also through the async `credential()` entry point.
//! - `vault/coalescing_10k`: 10,000 concurrent callers for one expired account against a local
//!   token endpoint with 20 ms latency: exactly one refresh; prints p50/p99 caller wait.
//! - `vault/redis_lock`: acquire + release on Redis over loopback (TIDEGATE_TEST_REDIS_URL);
//!   prints p50/p99 of a single acquire+release.
//!
//! Run: `cargo bench --bench vault` (add `TIDEGATE_TEST_REDIS_URL=redis://127.0.0.1:6379`).

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use criterion::{Criterion, criterion_group, criterion_main};
use tidegate_crypto::MasterKey;
use tidegate_vault::{
    ConnectorAuth, OAuth2Settings, PutAccount, Vault,
    lock::{LocalLock, RedisLock, RefreshLock},
    store::open_store,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn put(json: serde_json::Value) -> PutAccount {
    serde_json::from_value(json).unwrap()
}

/// A minimal HTTP/1.1 token endpoint: answers every request after `delay` with a fresh token,
/// counting calls. Good enough for the vault's one-request-per-connection client use.
async fn token_endpoint(delay: Duration, calls: Arc<AtomicUsize>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let calls = calls.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut read = 0;
                // Read headers + the small form body.
                loop {
                    let Ok(n) = sock.read(&mut buf[read..]).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    read += n;
                    let text = String::from_utf8_lossy(&buf[..read]);
                    if let Some(h) = text.find("\r\n\r\n") {
                        let len = text[..h]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if read >= h + 4 + len {
                            break;
                        }
                    }
                }
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(delay).await;
                let body = format!(
                    r#"{{"access_token":"bench-at-{n}","refresh_token":"bench-rt-{n}","expires_in":3600}}"#
                );
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/token")
}

async fn vault_with(token_url: &str) -> Vault {
    let store = open_store("sqlite::memory:").await.unwrap();
    Vault::builder(store, Arc::new(LocalLock::new()), MasterKey::generate())
        .connector(
            "crm",
            ConnectorAuth::OAuth2(OAuth2Settings::new("id", "secret", token_url)),
        )
        .connector(
            "keyed",
            ConnectorAuth::ApiKey {
                header: None,
                query: None,
                prefix: None,
            },
        )
        .build()
}

fn cached_lookup(c: &mut Criterion) {
    let rt = runtime();
    let vault = rt.block_on(async {
        let v = vault_with("http://127.0.0.1:9/token").await;
        v.put_account(
            "acc_1",
            put(serde_json::json!({"connector":"crm","environment":"production",
                "credentials":{"access_token":"at","refresh_token":"rt","expires_in":86400}})),
        )
        .await
        .unwrap();
        for i in 0..10_000 {
            v.put_account(&format!("acc_k{i}"), put(serde_json::json!({"connector":"keyed","environment":"production","credentials":{"api_key":"k"}})))
                .await
                .unwrap();
            v.credential(&format!("acc_k{i}"), "keyed", Some("production")).await.unwrap();
        }
        v.credential("acc_1", "crm", Some("production")).await.unwrap();
        v
    });
    let mut g = c.benchmark_group("vault");
    g.bench_function("cached_lookup", |b| {
        b.iter(|| {
            let hit = vault
                .cached(std::hint::black_box("acc_1"), "crm", Some("production"))
                .unwrap()
                .unwrap();
            std::hint::black_box(hit);
        })
    });
    let single = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    g.bench_function("credential_async_cached", |b| {
        b.iter(|| {
            let cred = single
                .block_on(vault.credential("acc_1", "crm", Some("production")))
                .unwrap();
            std::hint::black_box(cred);
        })
    });
    g.finish();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn coalescing(c: &mut Criterion) {
    let rt = runtime();
    let calls = Arc::new(AtomicUsize::new(0));
    let token_url = rt.block_on(token_endpoint(Duration::from_millis(20), calls.clone()));
    let vault = rt.block_on(vault_with(&token_url));
    let mut g = c.benchmark_group("vault");
    g.sample_size(10);
    let mut reported = false;
    g.bench_function("coalescing_10k", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (elapsed, waits, refreshes) = rt.block_on(async {
                    vault
                        .put_account(
                            "acc_hot",
                            put(serde_json::json!({"connector":"crm","environment":"production",
                                "credentials":{"access_token":"old","refresh_token":"rt","expires_at":"2020-01-01T00:00:00Z"}})),
                        )
                        .await
                        .unwrap();
                    let before = calls.load(Ordering::SeqCst);
                    let start = Instant::now();
                    let joins: Vec<_> = (0..10_000)
                        .map(|_| {
                            let v = vault.clone();
                            tokio::spawn(async move {
                                let t = Instant::now();
                                v.credential("acc_hot", "crm", Some("production")).await.unwrap();
                                t.elapsed()
                            })
                        })
                        .collect();
                    let mut waits = Vec::with_capacity(joins.len());
                    for j in joins {
                        waits.push(j.await.unwrap());
                    }
                    (start.elapsed(), waits, calls.load(Ordering::SeqCst) - before)
                });
                assert_eq!(refreshes, 1, "10,000 callers must cause exactly one refresh");
                if !reported {
                    let mut w = waits;
                    w.sort();
                    println!(
                        "vault/coalescing_10k: refreshes=1 batch={:?} caller wait p50={:?} p99={:?} max={:?} (token endpoint latency 20ms)",
                        elapsed,
                        percentile(&w, 0.50),
                        percentile(&w, 0.99),
                        w[w.len() - 1]
                    );
                    reported = true;
                }
                total += elapsed;
            }
            total
        })
    });
    g.finish();
}

fn redis_lock(c: &mut Criterion) {
    let Ok(url) = std::env::var("TIDEGATE_TEST_REDIS_URL") else {
        eprintln!("SKIPPED: vault/redis_lock (set TIDEGATE_TEST_REDIS_URL)");
        return;
    };
    let rt = runtime();
    let lock: Arc<dyn RefreshLock> = Arc::new(RedisLock::new(&url).unwrap());
    let key = format!("tg_bench_{}:acc_1", std::process::id());
    let ttl = Duration::from_secs(30);
    // Percentiles of single operations, measured directly.
    let lat = rt.block_on(async {
        let mut lat = Vec::with_capacity(5_000);
        for i in 0..5_000 {
            let owner = format!("o{i}");
            let t = Instant::now();
            assert!(lock.try_acquire(&key, &owner, ttl).await.unwrap());
            assert!(lock.release(&key, &owner).await.unwrap());
            lat.push(t.elapsed());
        }
        lat.sort();
        lat
    });
    println!(
        "vault/redis_lock acquire+release over loopback: p50={:?} p99={:?} (n=5000)",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );
    let mut g = c.benchmark_group("vault");
    g.bench_function("redis_lock_acquire_release", |b| {
        b.iter(|| {
            rt.block_on(async {
                assert!(lock.try_acquire(&key, "bench", ttl).await.unwrap());
                assert!(lock.release(&key, "bench").await.unwrap());
            })
        })
    });
    g.finish();
}

criterion_group!(benches, cached_lookup, coalescing, redis_lock);
criterion_main!(benches);
