//! Property tests of the redactor.

use proptest::prelude::*;
use serde_json::{Map, Value};
use tidegate_observe::{BodyMode, Redactor};

const FIELDS: &[&str] = tidegate_core::defaults::DEFAULT_REDACT_FIELDS;

fn redactor() -> Redactor {
    Redactor::new::<[&str; 0], &str, _, _>([], FIELDS)
}

/// A JSON tree of innocent keys and values (lower-case letters only, never `SECRET`).
fn innocent_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (0u32..1000).prop_map(Value::from),
        "[a-z ]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            // Keys from a-j can never spell a configured field or a credential fragment.
            prop::collection::btree_map("[a-j]{1,8}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A configured field name in a random spelling (case, `_`/`-`, camelCase).
fn spelled_field() -> impl Strategy<Value = String> {
    (prop::sample::select(FIELDS), 0..4usize).prop_map(|(f, style)| match style {
        0 => f.to_owned(),
        1 => f.to_ascii_uppercase(),
        2 => f.replace('_', "-"),
        _ => {
            let mut out = String::new();
            let mut upper = false;
            for c in f.chars() {
                if c == '_' {
                    upper = true;
                } else if upper {
                    out.push(c.to_ascii_uppercase());
                    upper = false;
                } else {
                    out.push(c);
                }
            }
            out
        }
    })
}

/// Puts `key: value` into the tree at a position chosen by `path` (descending into objects
/// and arrays), creating an object where the walk ends on a non-object.
fn plant(tree: &mut Value, path: &[usize], key: &str, value: Value) {
    match tree {
        Value::Object(map) if !path.is_empty() && !map.is_empty() => {
            let idx = path[0] % map.len();
            let k = map.keys().nth(idx).unwrap().clone();
            plant(map.get_mut(&k).unwrap(), &path[1..], key, value);
        }
        Value::Array(items) if !path.is_empty() && !items.is_empty() => {
            let idx = path[0] % items.len();
            plant(&mut items[idx], &path[1..], key, value);
        }
        Value::Object(map) => {
            map.insert(key.to_owned(), value);
        }
        other => {
            let mut map = Map::new();
            map.insert(key.to_owned(), value);
            *other = Value::Object(map);
        }
    }
}

fn secret_value() -> impl Strategy<Value = (String, Value)> {
    "SECRET[A-Z0-9]{6,12}".prop_flat_map(|s| {
        let as_string = Value::String(s.clone());
        let nested = serde_json::json!({ "inner": [s.clone(), { "deeper": s.clone() }] });
        (Just(s), prop_oneof![Just(as_string), Just(nested)])
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn configured_field_values_never_survive(
        mut tree in innocent_json(),
        plants in prop::collection::vec((prop::collection::vec(any::<usize>(), 0..6), spelled_field(), secret_value()), 1..4),
    ) {
        let mut secrets = Vec::new();
        for (path, key, (secret, value)) in plants {
            plant(&mut tree, &path, &key, value);
            secrets.push(secret);
        }
        // Through the in-place JSON redactor ...
        let mut redacted = tree.clone();
        redactor().json(&mut redacted);
        let text = redacted.to_string();
        for s in &secrets {
            prop_assert!(!text.contains(s.as_str()), "{} survived in {}", s, text);
        }
        // ... and through the body path (bytes in, JSON out), which must stay valid JSON.
        let bytes = serde_json::to_vec(&tree).unwrap();
        let body = redactor()
            .body(&BodyMode::Redacted, &bytes, bytes.len() as u64, Some("application/json"))
            .unwrap();
        let reparsed: Value = serde_json::from_str(&body.to_string()).unwrap();
        prop_assert_eq!(&reparsed, &redacted);
        for s in &secrets {
            prop_assert!(!body.to_string().contains(s.as_str()));
        }
    }

    #[test]
    fn redaction_keeps_innocent_json_unchanged_and_valid(tree in innocent_json()) {
        let mut redacted = tree.clone();
        redactor().json(&mut redacted);
        prop_assert_eq!(&redacted, &tree);
    }

    #[test]
    fn url_redactor_never_emits_a_secret_query_value(
        host in "[a-z]{3,10}",
        path in "(/[a-z]{1,6}){0,3}",
        params in prop::collection::vec(
            prop_oneof![
                ("[a-z]{1,6}", "[a-z0-9]{0,8}").prop_map(|(k, v)| (k, v, false)),
                (prop::sample::select(vec!["access_token", "api_key", "client_secret", "code", "token", "key", "signature", "password", "Access-Token", "apiKey", "refresh_token"]),
                 "SECRET[A-Z0-9]{4,10}").prop_map(|(k, v)| (k.to_owned(), v, true)),
            ],
            0..8,
        ),
    ) {
        let query: Vec<String> = params.iter().map(|(k, v, _)| format!("{k}={v}")).collect();
        let url = if query.is_empty() {
            format!("https://{host}.example{path}")
        } else {
            format!("https://{host}.example{path}?{}", query.join("&"))
        };
        let out = redactor().url(&url);
        for (k, v, secret) in &params {
            if *secret {
                prop_assert!(!out.contains(v.as_str()), "{} leaked in {}", v, out);
            } else if !is_secretish_name(k) {
                prop_assert!(out.contains(&format!("{k}={v}")), "{}={} lost in {}", k, v, out);
            }
        }
    }
}

/// Innocent random names can still spell a secret-looking name (`key`, `code`, `sig`, ...).
fn is_secretish_name(k: &str) -> bool {
    matches!(
        k,
        "code"
            | "token"
            | "key"
            | "sig"
            | "auth"
            | "secret"
            | "email"
            | "ssn"
            | "phone"
            | "password"
    ) || k.ends_with("key")
        || k.contains("token")
        || k.contains("secret")
}
