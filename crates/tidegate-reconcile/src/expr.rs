//! The `records`, `id`, `version` and `next_page` expressions (JSONata, CONTRACT §8).
//!
//! Most declarations are plain field paths (`results`, `id`, `properties.hs_lastmodifieddate`).
//! Those are evaluated directly on the parsed `serde_json::Value` — same result as JSONata for
//! objects, without converting every record into the engine's representation, which is what
//! makes 100,000 records a second possible. Anything else (functions, predicates, `$headers`)
//! goes to `tidegate-upstream`'s JSONata engine with its time/depth/sequence limits.

use std::sync::Arc;

use serde_json::Value;
use tidegate_upstream::expr::{Bindings, Compiled, ExpressionEngine, JsonataEngine};

/// A compiled expression.
#[derive(Clone, Debug)]
pub enum Expr {
    /// A dotted path of plain names, evaluated directly.
    Path(Vec<String>),
    /// Anything else.
    Jsonata(Arc<JsonataEngine>, Compiled),
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// JSONata keywords and literals that look like names but are not field paths.
const RESERVED: &[&str] = &["true", "false", "null", "and", "or", "in", "function"];

impl Expr {
    /// Compiles `source`; the error is a message for a config diagnostic.
    pub fn compile(engine: &Arc<JsonataEngine>, source: &str) -> Result<Expr, String> {
        let trimmed = source.trim();
        if trimmed == "$" {
            // The whole document (a body that is itself the records array).
            return Ok(Expr::Path(Vec::new()));
        }
        let parts: Vec<&str> = trimmed.split('.').collect();
        if !trimmed.is_empty()
            && parts.iter().all(|p| is_name(p))
            && !parts.iter().any(|p| RESERVED.contains(p))
        {
            return Ok(Expr::Path(parts.into_iter().map(str::to_owned).collect()));
        }
        engine
            .compile(source)
            .map(|c| Expr::Jsonata(engine.clone(), c))
    }

    /// The direct path walk: `Some(value)` when every step is an object field (`None` when a
    /// step is missing), or `Err(())` when a step meets an array (JSONata would map over it).
    fn walk<'v>(path: &[String], mut v: &'v Value) -> Result<Option<&'v Value>, ()> {
        for step in path {
            match v {
                Value::Object(map) => match map.get(step) {
                    Some(next) => v = next,
                    None => return Ok(None),
                },
                Value::Array(_) => return Err(()),
                _ => return Ok(None),
            }
        }
        Ok(Some(v))
    }

    /// Evaluates to a JSON value (`Value::Null` for "no value").
    pub fn eval(&self, data: &Value, bindings: &Bindings) -> Result<Value, String> {
        match self {
            Expr::Path(path) => match Self::walk(path, data) {
                Ok(v) => Ok(v.cloned().unwrap_or(Value::Null)),
                Err(()) => self.slow(data, bindings),
            },
            Expr::Jsonata(..) => self.slow(data, bindings),
        }
    }

    fn slow(&self, data: &Value, bindings: &Bindings) -> Result<Value, String> {
        match self {
            Expr::Jsonata(engine, c) => engine.evaluate(c, data, bindings).map_err(|e| e.0),
            Expr::Path(path) => {
                // Built lazily: only paths crossing arrays get here.
                let engine = JsonataEngine::default();
                let c = engine.compile(&path.join("."))?;
                engine.evaluate(&c, data, bindings).map_err(|e| e.0)
            }
        }
    }

    /// Evaluates to a string scalar (numbers and booleans formatted; a one-element array is
    /// its element). `None`: no value.
    pub fn eval_string(&self, data: &Value, bindings: &Bindings) -> Option<String> {
        if let Expr::Path(path) = self
            && let Ok(v) = Self::walk(path, data)
        {
            return v.and_then(scalar);
        }
        self.eval(data, bindings).ok().as_ref().and_then(scalar)
    }

    /// Takes the records array out of a page body (moving it when it is a plain path, so a page
    /// is never copied). A single object counts as one record; no value as none.
    pub fn take_records(
        &self,
        page: &mut Value,
        bindings: &Bindings,
    ) -> Result<Vec<Value>, String> {
        let found = match self {
            Expr::Path(path) => match Self::walk(path, page) {
                Ok(None) => return Ok(Vec::new()),
                Ok(Some(_)) => {
                    // Plain names need no JSON-pointer escaping.
                    let pointer: String = path.iter().map(|p| format!("/{p}")).collect();
                    page.pointer_mut(&pointer)
                        .map(Value::take)
                        .unwrap_or(Value::Null)
                }
                Err(()) => self.slow(page, bindings)?,
            },
            Expr::Jsonata(..) => self.slow(page, bindings)?,
        };
        Ok(match found {
            Value::Array(a) => a,
            Value::Null => Vec::new(),
            one @ Value::Object(_) => vec![one],
            other => return Err(format!("records expression yielded {}", kind(&other))),
        })
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(a) if a.len() == 1 => scalar(&a[0]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn engine() -> Arc<JsonataEngine> {
        Arc::new(JsonataEngine::default())
    }

    #[test]
    fn plain_paths_take_the_fast_path_and_agree_with_jsonata() {
        let e = engine();
        let rec = json!({"id": 7, "properties": {"hs_lastmodifieddate": "2026-01-01T00:00:00Z"}});
        for src in [
            "id",
            "properties.hs_lastmodifieddate",
            "missing",
            "properties.none",
        ] {
            let fast = Expr::compile(&e, src).unwrap();
            assert!(matches!(fast, Expr::Path(_)), "{src}");
            let slow = Expr::Jsonata(e.clone(), e.compile(src).unwrap());
            let b = Bindings::default();
            assert_eq!(
                fast.eval_string(&rec, &b),
                slow.eval_string(&rec, &b),
                "{src}"
            );
        }
        assert!(matches!(
            Expr::compile(&e, "$string(id)").unwrap(),
            Expr::Jsonata(..)
        ));
        assert!(matches!(
            Expr::compile(&e, "true").unwrap(),
            Expr::Jsonata(..)
        ));
        assert!(Expr::compile(&e, "a[").is_err());
    }

    #[test]
    fn records_are_moved_out_and_jsonata_handles_the_rest() {
        let e = engine();
        let b = Bindings::default();
        let mut page =
            json!({"results": [{"id": "1"}, {"id": "2"}], "paging": {"next": {"after": "2"}}});
        let recs = Expr::compile(&e, "results")
            .unwrap()
            .take_records(&mut page, &b)
            .unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(page["results"], Value::Null, "moved, not copied");
        let next = Expr::compile(&e, "paging.next.after").unwrap();
        assert_eq!(next.eval_string(&page, &b).as_deref(), Some("2"));
        let mut page = json!({"data": {"items": [{"v": 1}, {"v": 2}, {"v": 3}]}});
        let recs = Expr::compile(&e, "data.items[v > 1]")
            .unwrap()
            .take_records(&mut page, &b)
            .unwrap();
        assert_eq!(recs.len(), 2);
        let mut page = json!({"results": "nope"});
        assert!(
            Expr::compile(&e, "results")
                .unwrap()
                .take_records(&mut page, &b)
                .is_err()
        );
        // A Link header, as GitHub and Shopify paginate.
        let mut headers = serde_json::Map::new();
        headers.insert(
            "link".into(),
            json!("<https://api.github.com/issues?page=2>; rel=\"next\", <https://api.github.com/issues?page=5>; rel=\"last\""),
        );
        let b = Bindings {
            status: 200,
            headers,
        };
        let link = Expr::compile(
            &e,
            "$match($headers.link, /<([^>]+)>; rel=\"next\"/).groups[0]",
        )
        .unwrap();
        assert_eq!(
            link.eval_string(&json!([]), &b).as_deref(),
            Some("https://api.github.com/issues?page=2")
        );
    }
}
