//! The JSON output validates against the published schema, docs/audit-report.schema.json.
//!
//! A small validator for the subset of JSON Schema 2020-12 the published schema uses (type,
//! properties, required, additionalProperties, items, enum, const, oneOf, $ref, minimum,
//! maximum, minItems, maxItems), instead of a heavy dependency. `pattern` is checked by the
//! dedicated assertions below for the two patterns the schema uses.

use serde_json::Value;
use tidegate_audit::render::to_json;
use tidegate_audit::trail::{Actor, Outcome, Trail, actions};

use crate::support::{data_dir, offline_report};

fn schema() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/audit-report.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("schema file"))
        .expect("schema is JSON")
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        other => panic!("schema uses unsupported type {other}"),
    }
}

fn validate(root: &Value, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    let s = schema.as_object().expect("schema node is an object");
    for key in s.keys() {
        assert!(
            [
                "$schema",
                "$id",
                "$defs",
                "$ref",
                "title",
                "description",
                "type",
                "properties",
                "required",
                "additionalProperties",
                "items",
                "enum",
                "const",
                "oneOf",
                "minimum",
                "maximum",
                "minItems",
                "maxItems",
                "pattern",
            ]
            .contains(&key.as_str()),
            "schema keyword {key} is not supported by this validator"
        );
    }
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/$defs/").expect("local $ref");
        let target = &root["$defs"][name];
        assert!(!target.is_null(), "dangling $ref {r}");
        validate(root, target, v, at, errors);
    }
    if let Some(t) = s.get("type") {
        let ok = match t {
            Value::String(t) => type_ok(t, v),
            Value::Array(ts) => ts.iter().any(|t| type_ok(t.as_str().unwrap(), v)),
            _ => panic!("bad type"),
        };
        if !ok {
            errors.push(format!("{at}: expected type {t}, got {v}"));
            return;
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        errors.push(format!("{at}: {v} not in {e:?}"));
    }
    if let Some(c) = s.get("const")
        && c != v
    {
        errors.push(format!("{at}: expected {c}, got {v}"));
    }
    if let Some(n) = v.as_f64() {
        if let Some(min) = s.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            errors.push(format!("{at}: {n} < minimum {min}"));
        }
        if let Some(max) = s.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            errors.push(format!("{at}: {n} > maximum {max}"));
        }
    }
    if let Some(options) = s.get("oneOf").and_then(Value::as_array) {
        let matching = options
            .iter()
            .filter(|o| {
                let mut e = Vec::new();
                validate(root, o, v, at, &mut e);
                e.is_empty()
            })
            .count();
        if matching != 1 {
            errors.push(format!(
                "{at}: matches {matching} of oneOf's {} options",
                options.len()
            ));
        }
    }
    if let Some(obj) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let r = r.as_str().unwrap();
            if !obj.contains_key(r) {
                errors.push(format!("{at}: missing required {r}"));
            }
        }
        for (k, child) in obj {
            let here = format!("{at}.{k}");
            match props.and_then(|p| p.get(k)) {
                Some(ps) => validate(root, ps, child, &here, errors),
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => errors.push(format!("{here}: not allowed")),
                    Some(extra @ Value::Object(_)) => validate(root, extra, child, &here, errors),
                    _ => {}
                },
            }
        }
    }
    if let Some(items) = v.as_array() {
        if let Some(min) = s.get("minItems").and_then(Value::as_u64)
            && (items.len() as u64) < min
        {
            errors.push(format!("{at}: fewer than {min} items"));
        }
        if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
            && (items.len() as u64) > max
        {
            errors.push(format!("{at}: more than {max} items"));
        }
        if let Some(item_schema) = s.get("items") {
            for (i, item) in items.iter().enumerate() {
                validate(root, item_schema, item, &format!("{at}[{i}]"), errors);
            }
        }
    }
}

fn errors_of(doc: &Value) -> Vec<String> {
    let root = schema();
    let mut errors = Vec::new();
    validate(&root, &root, doc, "$", &mut errors);
    errors
}

fn check_patterns(doc: &Value) {
    for f in doc["findings"].as_array().unwrap() {
        let id = f["id"].as_str().unwrap();
        assert!(
            id.starts_with("TG-")
                && id[3..]
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-'),
            "{id}"
        );
    }
}

#[test]
fn reports_validate_against_the_published_schema() {
    for name in [
        "clean.toml",
        "seeded.toml",
        "seeded_b.toml",
        "envkey/tidegate.toml",
    ] {
        let report = offline_report(&data_dir().join(name));
        let doc: Value = serde_json::from_str(&to_json(&report)).unwrap();
        let errors = errors_of(&doc);
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        check_patterns(&doc);
        assert_eq!(
            doc["findings"].as_array().unwrap().len(),
            report.findings.len()
        );
    }
}

/// A report with a trail summary (entries, reveals, chain status) validates too.
#[tokio::test]
async fn report_with_trail_validates() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let trail = Trail::connect(&url).await.unwrap();
    trail
        .append(
            &Actor::named("cli:ops"),
            actions::ACCOUNT_REVEAL,
            "account:a",
            Outcome::Ok,
        )
        .await
        .unwrap();
    let (config, src) = crate::support::load(&data_dir().join("clean.toml"));
    let mut live =
        tidegate_audit::live::LiveState::not_probed(&config, crate::support::fixed_now());
    live.trail.available = true;
    live.trail.summary = Some(
        trail
            .summary(time::OffsetDateTime::UNIX_EPOCH)
            .await
            .unwrap(),
    );
    let report = tidegate_audit::Report::build(&tidegate_audit::AuditInput {
        config: &config,
        raw_source: Some(&src),
        live: &live,
        now: crate::support::fixed_now(),
    });
    let doc: Value = serde_json::from_str(&to_json(&report)).unwrap();
    assert_eq!(errors_of(&doc), Vec::<String>::new());
    let hash = doc["admin_trail"]["summary"]["chain"]["head_hash"]
        .as_str()
        .unwrap();
    assert!(hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()));
}

/// The validator is not vacuous: documents that break the schema are rejected.
#[test]
fn validator_rejects_broken_documents() {
    let report = offline_report(&data_dir().join("clean.toml"));
    let good: Value = serde_json::from_str(&to_json(&report)).unwrap();

    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("findings");
    assert!(
        errors_of(&missing)
            .iter()
            .any(|e| e.contains("missing required findings"))
    );

    let mut extra = good.clone();
    extra["summary"]["surprise"] = Value::from(1);
    assert!(errors_of(&extra).iter().any(|e| e.contains("surprise")));

    let mut bad_severity = good.clone();
    bad_severity["findings"] = serde_json::json!([{ "id": "TG-X", "severity": "critical", "path": "p", "message": "m", "fix": "f" }]);
    assert!(
        errors_of(&bad_severity)
            .iter()
            .any(|e| e.contains("critical"))
    );

    let mut bad_type = good;
    bad_type["upstreams"]["resilience"][0]["timeout_ms"] = Value::from("15s");
    assert!(!errors_of(&bad_type).is_empty());
}
