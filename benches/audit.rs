//! Audit benchmarks (docs/performance.md, "Audit").
//!
//! - `audit/report_build`: the whole runbook for `examples/tidegate.toml` (4 connectors) built
//!   from the effective config, without live probes, then rendered as Markdown and as JSON.
//! - `audit/trail_append_sqlite`: one admin-trail append on a SQLite file (BEGIN IMMEDIATE,
//!   read head, insert, update head, commit: the cost every admin call adds).
//! - `audit/trail_verify_10k`: verifying a 10,000-entry chain (read all rows, recompute 10,000
//!   SHA-256 hashes): what `tidegate audit` spends on the trail.
//!
//! Run: `cargo bench --bench audit`.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use tidegate_audit::live::LiveState;
use tidegate_audit::render::{Format, render};
use tidegate_audit::trail::{Actor, Outcome, Trail, actions};
use tidegate_audit::{AuditInput, Report};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn report_build(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/tidegate.toml");
    let src = std::fs::read_to_string(&path).unwrap();
    let config =
        tidegate_config::Config::from_str(&src, &path, &|v| Some(format!("bench-{v}"))).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let live = LiveState::not_probed(&config, now);
    c.bench_function("audit/report_build", |b| {
        b.iter(|| {
            let report = Report::build(&AuditInput {
                config: &config,
                raw_source: Some(&src),
                live: &live,
                now,
            });
            let md = render(&report, Format::Markdown);
            let json = render(&report, Format::Json);
            std::hint::black_box((md.len(), json.len()))
        })
    });
}

fn trail(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/trail.db", dir.path().display());
    let trail = rt.block_on(Trail::connect(&url)).unwrap();
    let actor = Actor::admin_key("bench-admin-key");
    c.bench_function("audit/trail_append_sqlite", |b| {
        b.iter(|| {
            rt.block_on(trail.append(
                &actor,
                actions::ACCOUNT_PUT,
                "account:acc_bench",
                Outcome::Ok,
            ))
            .unwrap()
        })
    });

    let dir10k = tempfile::tempdir().unwrap();
    let url10k = format!("sqlite://{}/trail.db", dir10k.path().display());
    let trail10k = rt.block_on(Trail::connect(&url10k)).unwrap();
    rt.block_on(async {
        for i in 0..10_000 {
            trail10k
                .append(
                    &actor,
                    actions::ADMIN_REQUEST,
                    &format!("GET /admin/accounts/acc_{i}"),
                    Outcome::Ok,
                )
                .await
                .unwrap();
        }
    });
    let mut group = c.benchmark_group("audit");
    group.sample_size(20);
    group.bench_function("trail_verify_10k", |b| {
        b.iter(|| {
            let status = rt.block_on(trail10k.verify()).unwrap();
            assert!(status.is_ok());
        })
    });
    group.finish();
}

criterion_group!(benches, report_build, trail);
criterion_main!(benches);
