//! Field extraction from provider payloads (`webhooks.object`, `id`, `version`, `event_id`,
//! `account`), behind the [`Extract`] trait. The config writes these as JSONata:
//! [`JsonataExtract`] evaluates them with `tidegate-upstream`'s engine (with its time, depth and
//! sequence limits), `$headers` bound to the request headers (lower-case names). [`SimpleExpr`]
//! is a dependency-free subset — a quoted literal (`'contact'`) or a dotted path with optional
//! indices (`data.id`, `items[0].id`) — used where a full engine is not wanted (benchmarks).

use std::sync::Arc;

use http::HeaderMap;
use serde_json::Value;
use tidegate_upstream::expr::{Bindings, Compiled, ExpressionEngine, JsonataEngine};

/// Evaluates one expression over a parsed payload (and the request headers) to a string.
pub trait Extract: Send + Sync + std::fmt::Debug {
    /// The value as a string (numbers and booleans are formatted), or `None`.
    fn extract(&self, payload: &Value, headers: &HeaderMap) -> Option<String>;
}

fn scalar_to_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        // A one-element sequence (JSONata over a one-event batch) is its element.
        Value::Array(a) if a.len() == 1 => scalar_to_string(&a[0]),
        _ => None,
    }
}

/// A JSONata expression evaluated by `tidegate-upstream`'s engine.
#[derive(Clone)]
pub struct JsonataExtract {
    engine: Arc<JsonataEngine>,
    compiled: Compiled,
}

impl std::fmt::Debug for JsonataExtract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("JsonataExtract")
            .field(&self.compiled.source())
            .finish()
    }
}

impl JsonataExtract {
    /// Compiles `expr`; the error is a message for a config diagnostic.
    pub fn compile(engine: Arc<JsonataEngine>, expr: &str) -> Result<Self, String> {
        let compiled = engine.compile(expr)?;
        Ok(Self { engine, compiled })
    }
}

impl Extract for JsonataExtract {
    fn extract(&self, payload: &Value, headers: &HeaderMap) -> Option<String> {
        let mut map = serde_json::Map::new();
        for (name, value) in headers {
            if let Ok(v) = value.to_str() {
                map.entry(name.as_str().to_owned())
                    .and_modify(|e| {
                        if let Value::String(s) = e {
                            s.push_str(", ");
                            s.push_str(v);
                        }
                    })
                    .or_insert_with(|| Value::String(v.to_owned()));
            }
        }
        let bindings = Bindings {
            status: 0,
            headers: map,
        };
        match self.engine.evaluate(&self.compiled, payload, &bindings) {
            Ok(v) => scalar_to_string(&v),
            Err(e) => {
                tracing::debug!(target: "tidegate::webhooks", expr = self.compiled.source(), error = %e,
                    "webhook expression yielded no value");
                None
            }
        }
    }
}

/// An expression outside the built-in subset.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unsupported expression {0:?} (built-in subset: 'literal' or a.b[0].c)")]
pub struct UnsupportedExpr(pub String);

#[derive(Clone, Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// The built-in subset: literal or path.
#[derive(Clone, Debug, PartialEq)]
pub enum SimpleExpr {
    /// `'text'` or `"text"`.
    Literal(String),
    /// `a.b[0].c`.
    Path(Vec<String>),
}

impl SimpleExpr {
    /// Parses an expression of the subset.
    pub fn parse(expr: &str) -> Result<Self, UnsupportedExpr> {
        let e = expr.trim();
        let err = || UnsupportedExpr(expr.to_owned());
        for q in ['\'', '"'] {
            if e.len() >= 2 && e.starts_with(q) && e.ends_with(q) {
                let inner = &e[1..e.len() - 1];
                if inner.contains(q) {
                    return Err(err());
                }
                return Ok(SimpleExpr::Literal(inner.to_owned()));
            }
        }
        if e.is_empty() {
            return Err(err());
        }
        // Validate now so evaluation cannot fail on syntax.
        let mut parts = Vec::new();
        for part in e.split('.') {
            let name_end = part.find('[').unwrap_or(part.len());
            let name = &part[..name_end];
            if !name.is_empty()
                && !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'$')
            {
                return Err(err());
            }
            let mut rest = &part[name_end..];
            while !rest.is_empty() {
                let close = rest.find(']').ok_or_else(err)?;
                if !rest.starts_with('[') || rest[1..close].parse::<usize>().is_err() {
                    return Err(err());
                }
                rest = &rest[close + 1..];
            }
            if name.is_empty() && name_end == part.len() {
                return Err(err());
            }
            parts.push(part.to_owned());
        }
        Ok(SimpleExpr::Path(parts))
    }

    fn steps(parts: &[String]) -> Vec<Step> {
        let mut steps = Vec::new();
        for part in parts {
            let name_end = part.find('[').unwrap_or(part.len());
            if name_end > 0 {
                steps.push(Step::Key(part[..name_end].to_owned()));
            }
            for idx in part[name_end..].split(['[', ']']).filter(|s| !s.is_empty()) {
                if let Ok(i) = idx.parse() {
                    steps.push(Step::Index(i));
                }
            }
        }
        steps
    }
}

fn walk<'v>(v: &'v Value, steps: &[Step]) -> Option<&'v Value> {
    let Some((first, rest)) = steps.split_first() else {
        return Some(v);
    };
    match (first, v) {
        (Step::Key(k), Value::Object(m)) => walk(m.get(k)?, rest),
        (Step::Key(_), Value::Array(items)) => items.iter().find_map(|item| walk(item, steps)),
        (Step::Index(i), Value::Array(items)) => walk(items.get(*i)?, rest),
        _ => None,
    }
}

impl Extract for SimpleExpr {
    fn extract(&self, payload: &Value, _headers: &HeaderMap) -> Option<String> {
        match self {
            SimpleExpr::Literal(s) => Some(s.clone()),
            SimpleExpr::Path(parts) => match walk(payload, &Self::steps(parts))? {
                v @ (Value::String(_) | Value::Number(_) | Value::Bool(_)) => scalar_to_string(v),
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_paths_and_arrays() {
        let v = serde_json::json!({"data": {"id": "c_1", "n": 42, "items": [{"k": "a"}, {"k": "b"}]},
                                   "batch": [{"objectId": 123}]});
        let h = HeaderMap::new();
        let x = |e: &str| SimpleExpr::parse(e).unwrap().extract(&v, &h);
        assert_eq!(x("'contact'").as_deref(), Some("contact"));
        assert_eq!(x("data.id").as_deref(), Some("c_1"));
        assert_eq!(x("data.n").as_deref(), Some("42"));
        assert_eq!(x("data.items[1].k").as_deref(), Some("b"));
        assert_eq!(x("data.items.k").as_deref(), Some("a"));
        assert_eq!(x("batch.objectId").as_deref(), Some("123"));
        assert_eq!(x("data.missing"), None);
        assert_eq!(x("data"), None, "objects are not strings");
        let arr = serde_json::json!([{"eventId": 7}]);
        assert_eq!(
            SimpleExpr::parse("eventId")
                .unwrap()
                .extract(&arr, &h)
                .as_deref(),
            Some("7")
        );
    }

    #[test]
    fn jsonata_presets_expressions() {
        let engine = Arc::new(JsonataEngine::default());
        let mut h = HeaderMap::new();
        h.insert("x-github-delivery", "d-123".parse().unwrap());
        let x = |e: &str, v: &Value| {
            JsonataExtract::compile(engine.clone(), e)
                .unwrap()
                .extract(v, &h)
        };
        let batch = serde_json::json!([{"eventId": 77, "objectId": 5}]);
        assert_eq!(x("$string($[0].eventId)", &batch).as_deref(), Some("77"));
        assert_eq!(x("objectId", &batch).as_deref(), Some("5"));
        assert_eq!(
            x("$headers.`x-github-delivery`", &Value::Null).as_deref(),
            Some("d-123")
        );
        assert_eq!(x("'contact'", &Value::Null).as_deref(), Some("contact"));
        assert_eq!(x("data.missing", &batch), None);
        assert!(
            JsonataExtract::compile(engine.clone(), "$eval('1')").is_err()
                || x("$eval('1')", &batch).is_none()
        );
    }

    #[test]
    fn rejects_outside_subset() {
        for bad in ["", "$sum(a)", "a[", "a[x]", "a..b", "a + b"] {
            assert!(SimpleExpr::parse(bad).is_err(), "{bad}");
        }
    }
}
