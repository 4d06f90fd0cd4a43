//! Field extraction from provider payloads (`webhooks.object`, `id`, `version`, `event_id`,
//! `account`). The connector config writes these as JSONata; JSONata evaluation belongs to
//! `tidegate-upstream`, which was not available when this was written, so this module provides
//! the [`Extract`] trait plus a small built-in subset that covers the presets: a quoted string
//! literal (`'contact'`) or a dotted path with optional indices (`data.id`, `items[0].id`).
//! Stepping into an array without an index maps over it and takes the first result, which is
//! what JSONata yields for the usual one-element batch. A JSONata-backed [`Extract`] can replace
//! it without touching the pipeline.

use serde_json::Value;

/// Evaluates one expression over a parsed payload to a string.
pub trait Extract: Send + Sync + std::fmt::Debug {
    /// The value as a string (numbers and booleans are formatted), or `None`.
    fn extract(&self, payload: &Value) -> Option<String>;
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
    fn extract(&self, payload: &Value) -> Option<String> {
        match self {
            SimpleExpr::Literal(s) => Some(s.clone()),
            SimpleExpr::Path(parts) => match walk(payload, &Self::steps(parts))? {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
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
        let x = |e: &str| SimpleExpr::parse(e).unwrap().extract(&v);
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
                .extract(&arr)
                .as_deref(),
            Some("7")
        );
    }

    #[test]
    fn rejects_outside_subset() {
        for bad in ["", "$sum(a)", "a[", "a[x]", "a..b", "a + b"] {
            assert!(SimpleExpr::parse(bad).is_err(), "{bad}");
        }
    }
}
