//! Hostile upstream bodies cannot crash, stall or bloat the normalization.
//!
//! Memory is bounded by construction (at most 64 KiB + one frame is read, see
//! `pipeline::an_error_body_over_the_cap_is_not_read_further`). Time: each case below must
//! simply *finish*; the one wall-clock bound is a generous functional check (a stall or an
//! exponential blow-up would take minutes or forever, not seconds) and not a performance claim —
//! the benches measure speed.

use std::time::{Duration, Instant};

use http::{HeaderMap, StatusCode};
use serde_json::Value;
use tidegate_upstream::errors::{ErrorExprs, ErrorSettings, MAX_ERROR_BODY, normalize};

use super::support::context;

const FUNCTIONAL_BOUND: Duration = Duration::from_secs(10);

fn run(exprs: ErrorExprs<'_>, body: &[u8]) -> tidegate_core::Problem {
    let settings = ErrorSettings::compile(&exprs).unwrap();
    let started = Instant::now();
    let body = &body[..body.len().min(MAX_ERROR_BODY)];
    let p = normalize(
        &settings,
        StatusCode::BAD_REQUEST,
        &HeaderMap::new(),
        body,
        Some(&context("h")),
    )
    .expect("a 400 is always normalized");
    assert!(
        started.elapsed() < FUNCTIONAL_BOUND,
        "normalization finished (functional bound)"
    );
    p
}

fn all_exprs() -> ErrorExprs<'static> {
    ErrorExprs {
        code: Some("$string(**.code)"),
        message: Some("$join(**.message, '; ')"),
        class: Some("$count(**) > 5 ? 'invalid_request'"),
        retryable: Some("$exists($[0][0][0])"),
        ..Default::default()
    }
}

#[test]
fn ten_megabytes_of_nested_arrays() {
    let mut body = vec![b'['; 5 * 1024 * 1024];
    body.extend(vec![b']'; 5 * 1024 * 1024]);
    let p = run(all_exprs(), &body);
    // Truncated at 64 KiB and nested far beyond serde_json's limit of 128: a string, not JSON.
    let up = p.upstream.unwrap();
    assert_eq!(
        up.body.as_ref().and_then(Value::as_str).map(str::len),
        Some(MAX_ERROR_BODY)
    );
    assert_eq!(p.code, tidegate_core::ErrorCode::InvalidRequest);
}

#[test]
fn nesting_just_over_and_under_the_limit() {
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let p = run(all_exprs(), deep.as_bytes());
    assert!(
        p.upstream.unwrap().body.unwrap().is_string(),
        "rejected before evaluation"
    );
    let ok = format!(
        "{}{{\"message\":\"m\"}}{}",
        "[".repeat(100),
        "]".repeat(100)
    );
    let p = run(all_exprs(), ok.as_bytes());
    assert_eq!(
        p.detail.as_deref(),
        Some("m"),
        "nesting under the limit is evaluated"
    );
}

#[test]
fn a_huge_array_hits_the_sequence_limit_and_falls_back() {
    let body = format!("[{}1]", "1,".repeat(30_000));
    let p = run(
        ErrorExprs {
            message: Some("$string($count($map($, function($v) { [$v, $v, $v] })))"),
            ..Default::default()
        },
        body.as_bytes(),
    );
    assert_eq!(
        p.detail.as_deref(),
        Some("Invalid request"),
        "failed expression → default"
    );
}

#[test]
fn expression_looking_strings_are_data_not_code() {
    for hostile in [
        r#"{"message":"$spread($)"}"#,
        r#"{"message":"(function(){ $x := 1; $x })()"}"#,
        r#"{"message":"($f := function(){ $f() }; $f())"}"#,
    ] {
        let p = run(
            ErrorExprs {
                message: Some("message"),
                ..Default::default()
            },
            hostile.as_bytes(),
        );
        let v: Value = serde_json::from_str(hostile).unwrap();
        assert_eq!(
            p.detail.as_deref(),
            v["message"].as_str(),
            "returned verbatim, never evaluated"
        );
    }
    // Non-JSON text that looks like an expression is a string message.
    let p = run(
        ErrorExprs {
            message: Some("message"),
            ..Default::default()
        },
        b"$spread($) & $eval('1')",
    );
    assert_eq!(p.detail.as_deref(), Some("$spread($) & $eval('1')"));
}

#[test]
fn runaway_expressions_are_stopped_by_the_engine_limits() {
    let p = run(
        ErrorExprs {
            message: Some("($f := function($n){ $f($n + 1) + 1 }; $f(0))"),
            ..Default::default()
        },
        b"{}",
    );
    assert_eq!(p.detail.as_deref(), Some("Invalid request"));
    let p = run(
        ErrorExprs {
            message: Some(
                "$string($reduce([1..100000], function($a, $b){ $a & 'xxxxxxxxxx' }, ''))",
            ),
            ..Default::default()
        },
        b"{}",
    );
    // Either the sequence limit or the timeout stops it; the request still gets its problem.
    assert_eq!(p.status, 400);
}

#[test]
fn invalid_utf8_and_binary_bodies() {
    let body: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let p = run(all_exprs(), &body);
    assert!(p.upstream.unwrap().body.unwrap().is_string());
}
