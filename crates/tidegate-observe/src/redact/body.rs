//! Body redaction for log records: JSON only, bounded, redacted or allow-listed.

use serde_json::{Map, Value};

use super::Redactor;

/// At most this many body bytes are captured for a log record (per body).
pub const MAX_CAPTURE: usize = 16 * 1024;

/// How a connector's bodies may appear in the boundary log (`logging.body`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum BodyMode {
    /// Bodies (sampled or error) are logged after redaction. The default.
    #[default]
    Redacted,
    /// Only the named JSON fields (at any depth, case-insensitive) are logged, still redacted.
    Allowlist(Vec<String>),
    /// Bodies are never logged.
    None,
}

impl BodyMode {
    /// Parses `logging.body` (`"redacted"`, `"allowlist"`, `"none"`) with its `fields`.
    pub fn parse(mode: &str, fields: &[String]) -> Option<BodyMode> {
        match mode {
            "redacted" => Some(BodyMode::Redacted),
            "allowlist" => Some(BodyMode::Allowlist(fields.to_vec())),
            "none" => Some(BodyMode::None),
            _ => None,
        }
    }
}

pub(super) fn redact_body(
    redactor: &Redactor,
    mode: &BodyMode,
    captured: &[u8],
    total_len: u64,
    content_type: Option<&str>,
) -> Option<Value> {
    if *mode == BodyMode::None {
        return None;
    }
    let is_json = content_type.is_none_or(is_json_media_type);
    let complete = total_len as usize == captured.len();
    let parsed = (is_json && complete && !captured.is_empty())
        .then(|| serde_json::from_slice::<Value>(captured).ok())
        .flatten();
    let Some(mut value) = parsed else {
        return Some(shape_only(total_len, content_type, !complete));
    };
    if let BodyMode::Allowlist(fields) = mode {
        let allowed: Vec<String> = fields.iter().map(|f| super::normalize_key(f)).collect();
        value = allow_only(value, &allowed).unwrap_or_else(|| Value::Object(Map::new()));
    }
    redactor.json(&mut value);
    Some(value)
}

/// `{ "length": n, "content_type": "..." }` for bodies that are not (complete) JSON.
pub(super) fn shape_only(total_len: u64, content_type: Option<&str>, truncated: bool) -> Value {
    let mut map = Map::new();
    map.insert("length".into(), Value::from(total_len));
    map.insert(
        "content_type".into(),
        content_type.map_or(Value::Null, |ct| {
            // A media type never needs more than this; parameters could carry anything.
            let media = ct.split(';').next().unwrap_or("").trim();
            Value::String(super::patterns::redact_text(media).into_owned())
        }),
    );
    if truncated {
        map.insert("truncated".into(), Value::Bool(true));
    }
    Value::Object(map)
}

fn is_json_media_type(ct: &str) -> bool {
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media == "application/json" || media.ends_with("+json") || media == "text/json"
}

/// Keeps allowed keys (with their whole value) and the containers leading to them.
fn allow_only(value: Value, allowed: &[String]) -> Option<Value> {
    match value {
        Value::Object(map) => {
            let kept: Map<String, Value> = map
                .into_iter()
                .filter_map(|(k, v)| {
                    if allowed.contains(&super::normalize_key(&k)) {
                        Some((k, v))
                    } else {
                        allow_only(v, allowed).map(|v| (k, v))
                    }
                })
                .collect();
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        Value::Array(items) => {
            let kept: Vec<Value> = items
                .into_iter()
                .filter_map(|v| allow_only(v, allowed))
                .collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(mode: &BodyMode, bytes: &[u8], ct: Option<&str>) -> Option<Value> {
        Redactor::new::<[&str; 0], &str, _, _>([], ["email"]).body(
            mode,
            bytes,
            bytes.len() as u64,
            ct,
        )
    }

    #[test]
    fn json_bodies_are_redacted() {
        let v = body(
            &BodyMode::Redacted,
            br#"{"email":"e","password":"p","ok":true}"#,
            Some("application/json; charset=utf-8"),
        );
        assert_eq!(
            v,
            Some(json!({"email":"[REDACTED]","password":"[REDACTED]","ok":true}))
        );
    }

    #[test]
    fn non_json_bodies_are_shape_only() {
        let v = body(
            &BodyMode::Redacted,
            b"client_secret=abc&code=x",
            Some("application/x-www-form-urlencoded"),
        );
        assert_eq!(
            v,
            Some(json!({"length": 24, "content_type": "application/x-www-form-urlencoded"}))
        );
        let v = body(&BodyMode::Redacted, b"{not json", Some("application/json"));
        assert_eq!(
            v,
            Some(json!({"length": 9, "content_type": "application/json"}))
        );
    }

    #[test]
    fn truncated_bodies_are_shape_only() {
        let r = Redactor::default();
        let v = r.body(
            &BodyMode::Redacted,
            b"{\"a\":",
            1 << 26,
            Some("application/json"),
        );
        assert_eq!(
            v,
            Some(
                json!({"length": 67108864u64, "content_type": "application/json", "truncated": true})
            )
        );
    }

    #[test]
    fn allowlist_keeps_only_named_fields_still_redacted() {
        let mode = BodyMode::Allowlist(vec!["id".into(), "status".into(), "email".into()]);
        let v = body(
            &mode,
            br#"{"id":1,"name":"Ann","email":"a@b.example","items":[{"id":2,"note":"x"},{"note":"y"}],"status":"ok"}"#,
            Some("application/json"),
        );
        assert_eq!(
            v,
            Some(json!({"id":1,"email":"[REDACTED]","items":[{"id":2}],"status":"ok"}))
        );
        let v = body(&mode, br#"{"name":"Ann"}"#, Some("application/json"));
        assert_eq!(v, Some(json!({})));
    }

    #[test]
    fn none_mode_logs_nothing() {
        assert_eq!(body(&BodyMode::None, b"{}", Some("application/json")), None);
    }

    #[test]
    fn parse_modes() {
        assert_eq!(BodyMode::parse("none", &[]), Some(BodyMode::None));
        assert_eq!(
            BodyMode::parse("allowlist", &["a".into()]),
            Some(BodyMode::Allowlist(vec!["a".into()]))
        );
        assert_eq!(BodyMode::parse("all", &[]), None);
    }
}
