//! A structural validator for the subset of JSON Schema that `docs/boundary-log.schema.json`
//! uses (type, required, properties, additionalProperties, items, minimum, maximum, enum,
//! pattern for the timestamp, local `$ref`). Hand-written so the test needs no heavy
//! dependency; it fails on any keyword it does not know, so it cannot silently pass.

use serde_json::Value;

/// The schema as shipped in the docs.
pub fn boundary_schema() -> Value {
    serde_json::from_str(include_str!("../../../../docs/boundary-log.schema.json"))
        .expect("the shipped schema is JSON")
}

/// Validates `value` against `schema`; the errors name the JSON path.
pub fn validate(schema: &Value, value: &Value) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    check(schema, schema, value, "$", &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

const KNOWN: &[&str] = &[
    "$schema",
    "$id",
    "title",
    "description",
    "type",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "minimum",
    "maximum",
    "enum",
    "pattern",
    "$ref",
    "$defs",
];

fn check(root: &Value, schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(obj) = schema.as_object() else {
        errors.push(format!("{path}: schema is not an object"));
        return;
    };
    for key in obj.keys() {
        assert!(
            KNOWN.contains(&key.as_str()),
            "validator does not know keyword {key}"
        );
    }
    if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
        let name = reference
            .strip_prefix("#/$defs/")
            .expect("local $defs refs only");
        check(root, &root["$defs"][name], value, path, errors);
    }
    if let Some(types) = obj.get("type") {
        let allowed: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => panic!("bad type keyword"),
        };
        if !allowed.iter().any(|t| type_matches(t, value)) {
            errors.push(format!("{path}: {value} is not of type {allowed:?}"));
            return;
        }
    }
    if let Some(options) = obj.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        errors.push(format!("{path}: {value} not in enum"));
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = obj.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            errors.push(format!("{path}: {n} < minimum {min}"));
        }
        if let Some(max) = obj.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            errors.push(format!("{path}: {n} > maximum {max}"));
        }
    }
    if let (Some(pattern), Some(s)) = (obj.get("pattern").and_then(Value::as_str), value.as_str()) {
        // The schema's only pattern is the timestamp's; check its shape directly.
        assert!(
            pattern.starts_with("^[0-9]{4}-"),
            "unknown pattern {pattern}"
        );
        if !is_timestamp(s) {
            errors.push(format!(
                "{path}: {s} is not a millisecond RFC 3339 UTC timestamp"
            ));
        }
    }
    if let Some(map) = value.as_object() {
        if let Some(required) = obj.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(name) {
                    errors.push(format!("{path}: missing required {name}"));
                }
            }
        }
        let props = obj.get("properties").and_then(Value::as_object);
        for (key, v) in map {
            let child = format!("{path}.{key}");
            match (
                props.and_then(|p| p.get(key)),
                obj.get("additionalProperties"),
            ) {
                (Some(s), _) => check(root, s, v, &child, errors),
                (None, Some(Value::Bool(false))) => {
                    errors.push(format!("{path}: unexpected property {key}"));
                }
                (None, Some(s @ Value::Object(_))) => check(root, s, v, &child, errors),
                (None, _) => {}
            }
        }
    }
    if let (Some(items), Some(arr)) = (obj.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            check(root, items, v, &format!("{path}[{i}]"), errors);
        }
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_u64() || v.is_i64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        other => panic!("unknown type {other}"),
    }
}

fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    b.len() == 24
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22]
            .iter()
            .all(|&i| digit(i))
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[23] == b'Z'
}

#[test]
fn the_contract_example_is_valid() {
    let example: Value =
        serde_json::from_str(include_str!("../data/contract_example.json")).unwrap();
    validate(&boundary_schema(), &example).unwrap();
}

#[test]
fn the_validator_rejects_wrong_names_and_types() {
    let schema = boundary_schema();
    let mut example: Value =
        serde_json::from_str(include_str!("../data/contract_example.json")).unwrap();
    example["attempt"] = Value::from("1");
    example["response"]["latencyMs"] = Value::from(3);
    example["timestamp"] = Value::from("2026-10-14 08:12:33");
    example.as_object_mut().unwrap().remove("outcome");
    let errors = validate(&schema, &example).unwrap_err();
    assert_eq!(errors.len(), 4, "{errors:?}");
}
