//! The JSONata engine behind our trait (jsonata-core 2.2.13) agrees with the reference
//! implementation (npm `jsonata` 2.2.2, a real peer) on every preset expression over every
//! real-shaped body of the preset table.
//!
//! Needs `node` and `npm install` in `tests/fixtures/jsonata-oracle` (CI does it); skipped
//! loudly otherwise.

use std::{
    io::Write,
    path::Path,
    process::{Command, Stdio},
};

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use tidegate_upstream::{
    ExpressionEngine, JsonataEngine,
    errors::{body_value, header_bindings},
    expr::Bindings,
};

use super::{
    presets::cases,
    support::{PRESETS, preset_settings},
};

#[test]
fn preset_expressions_agree_with_the_reference_implementation() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jsonata-oracle");
    if !dir.join("node_modules/jsonata").exists() {
        eprintln!(
            "SKIPPED: the JSONata oracle needs `npm install` in {} (and node)",
            dir.display()
        );
        return;
    }
    let engine = JsonataEngine::default();
    let mut exprs = Vec::new();
    for (name, _) in PRESETS {
        let (_, errors) = preset_settings(name);
        for c in [
            &errors.code,
            &errors.message,
            &errors.class,
            &errors.retryable,
            &errors.when,
            &errors.status,
        ]
        .into_iter()
        .flatten()
        {
            exprs.push(((*name).to_owned(), c.clone()));
        }
    }
    let mut requests = String::new();
    let mut ours = Vec::new();
    for case in cases() {
        let mut headers = HeaderMap::new();
        for (k, v) in &case.headers {
            headers.append(
                HeaderName::from_static(k),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let data = body_value(case.body.as_bytes());
        let bindings = Bindings {
            status: case.status,
            headers: header_bindings(&headers),
        };
        for (preset, compiled) in &exprs {
            let line = json!({"expr": compiled.source(), "data": data, "status": case.status, "headers": bindings.headers});
            requests.push_str(&line.to_string());
            requests.push('\n');
            let label = format!(
                "{preset} `{}` on {} / {}",
                compiled.source().trim(),
                case.preset,
                case.what
            );
            ours.push((label, engine.evaluate(compiled, &data, &bindings)));
        }
    }
    let mut child = Command::new("node")
        .arg("oracle.js")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(requests.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let answers: Vec<Value> = out
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(answers.len(), ours.len());
    let mut disagreements = Vec::new();
    for ((label, mine), theirs) in ours.iter().zip(&answers) {
        let agree = match (mine, theirs.get("ok")) {
            (Ok(a), Some(b)) => a == b || (a.as_f64().is_some() && a.as_f64() == b.as_f64()),
            (Err(_), None) => true,
            _ => false,
        };
        if !agree {
            disagreements.push(format!("{label}: ours {mine:?}, reference {theirs}"));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} evaluations disagree:\n{}",
        disagreements.len(),
        ours.len(),
        disagreements.join("\n")
    );
    let with_values = answers
        .iter()
        .filter(|a| a.get("ok").is_some_and(|v| !v.is_null()))
        .count();
    assert!(
        with_values > 200,
        "only {with_values} evaluations produced a value: the comparison would be vacuous"
    );
    eprintln!(
        "oracle: {} evaluations agree ({with_values} with a value)",
        ours.len()
    );
}
