//! Expressions over upstream bodies, behind our own [`ExpressionEngine`] trait.
//!
//! The engine is `jsonata-core =2.2.13` ([`JsonataEngine`]); nothing outside this module names
//! it, so it can be swapped without touching the error normalization or the config layer.
//!
//! ## Safety on hostile input (what was checked in jsonata-core 2.2.13's source)
//!
//! - **Bodies never reach the JSONata parser.** Expressions come from config and are compiled
//!   once ([`compile`]); bodies are parsed with `serde_json` (default recursion limit 128, so
//!   nesting deeper than 128 is rejected *before* evaluation and the body becomes a string) and
//!   bound as data. `$eval` — the one builtin that would parse data as an expression — is
//!   refused at compile time.
//! - **Limits.** `EvaluatorOptions` offers `timeout_ms` (D1012, checked at every node and every
//!   callback of the higher-order builtins), `max_stack_depth` (D1011) and
//!   `max_sequence_length` (D2015; it does not cover array literals, which only the expression
//!   author writes). All three are always set ([`EvalLimits`]). The input is capped at 64 KiB
//!   by the caller, which bounds what a single builtin call (not interruptible) can chew on.
//! - **Threads.** The evaluator and its values are `Rc`-based, hence not `Send`; the parsed
//!   `AstNode` is plain owned data (`Send + Sync`, asserted below) and is shared; a fresh
//!   evaluator is built per evaluation on the calling thread. Evaluation is synchronous and
//!   bounded by the timeout, so no blocking thread is needed (it would cost more than the
//!   evaluation itself: ~10 µs per hop).
//! - **Panics.** Every evaluation runs under `catch_unwind`; a panic becomes an error, logged,
//!   and the default code is used. The fuzz target `jsonata_bodies` found none.

use std::{
    any::Any,
    fmt,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::Arc,
};

use jsonata_core::{
    ast::AstNode,
    evaluator::{Context, Evaluator, EvaluatorOptions},
    value::JValue,
};
use serde_json::Value;

/// Resource limits for one evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvalLimits {
    /// Wall-clock budget per expression, in milliseconds.
    pub timeout_ms: u64,
    /// Maximum evaluation stack depth.
    pub max_stack_depth: usize,
    /// Maximum length of a query-result sequence.
    pub max_sequence_length: usize,
}

impl Default for EvalLimits {
    fn default() -> Self {
        Self {
            timeout_ms: 25,
            max_stack_depth: 200,
            max_sequence_length: 10_000,
        }
    }
}

/// The variables every expression sees besides the body: `$status` and `$headers`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bindings {
    /// The upstream HTTP status.
    pub status: u16,
    /// Response headers, lower-case names, several values joined by `", "`.
    pub headers: serde_json::Map<String, Value>,
}

/// A compiled expression, opaque to everyone but its engine. Cheap to clone.
#[derive(Clone)]
pub struct Compiled {
    source: Arc<str>,
    program: Arc<dyn Any + Send + Sync>,
}

impl Compiled {
    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl fmt::Debug for Compiled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Compiled").field(&self.source).finish()
    }
}

impl PartialEq for Compiled {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// Why an evaluation produced no value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvalError(pub String);

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EvalError {}

/// An expression language over JSON documents.
pub trait ExpressionEngine: Send + Sync + 'static {
    /// Compiles `source`; the error message is meant for a config diagnostic.
    fn compile(&self, source: &str) -> Result<Compiled, String>;

    /// Evaluates `compiled` over `data`. `Ok(Value::Null)` means "no value" (undefined).
    fn evaluate(
        &self,
        compiled: &Compiled,
        data: &Value,
        bindings: &Bindings,
    ) -> Result<Value, EvalError>;

    /// Evaluates several expressions over one document; engines that convert the document into
    /// their own representation do it once here. `None` entries yield `None`.
    fn evaluate_many(
        &self,
        exprs: &[Option<&Compiled>],
        data: &Value,
        bindings: &Bindings,
    ) -> Vec<Option<Result<Value, EvalError>>> {
        exprs
            .iter()
            .map(|e| e.map(|c| self.evaluate(c, data, bindings)))
            .collect()
    }
}

/// [`ExpressionEngine`] on jsonata-core 2.2.13, with [`EvalLimits`] on every evaluation.
#[derive(Clone, Debug, Default)]
pub struct JsonataEngine {
    limits: EvalLimits,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<AstNode>();
};

impl JsonataEngine {
    /// An engine with these limits.
    pub fn new(limits: EvalLimits) -> Self {
        Self { limits }
    }

    fn options(&self) -> EvaluatorOptions {
        EvaluatorOptions {
            timeout_ms: Some(self.limits.timeout_ms),
            max_stack_depth: Some(self.limits.max_stack_depth),
            max_sequence_length: Some(self.limits.max_sequence_length),
            ..EvaluatorOptions::default()
        }
    }

    fn run(
        &self,
        compiled: &Compiled,
        data: &JValue,
        status: &JValue,
        headers: &JValue,
    ) -> Result<Value, EvalError> {
        let ast = compiled
            .program
            .downcast_ref::<AstNode>()
            .ok_or_else(|| EvalError("expression compiled by another engine".into()))?;
        let options = self.options();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut context = Context::new();
            context.bind("status".to_owned(), status.clone());
            context.bind("headers".to_owned(), headers.clone());
            let mut evaluator = Evaluator::with_options(context, options);
            evaluator
                .evaluate(ast, data)
                .map(|v| integral_numbers(Value::from(&v)))
                .map_err(|e| EvalError(e.to_string()))
        }));
        match outcome {
            Ok(result) => result,
            Err(_) => Err(EvalError("the expression engine panicked".into())),
        }
    }
}

/// JSONata numbers are doubles; a whole number comes back as an integer (`403`, not `403.0`),
/// so that codes and statuses read naturally in problems.
fn integral_numbers(v: Value) -> Value {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(integral_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, integral_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

fn bindings_to_jvalues(bindings: &Bindings) -> (JValue, JValue) {
    (
        JValue::Number(f64::from(bindings.status)),
        JValue::from(Value::Object(bindings.headers.clone())),
    )
}

impl ExpressionEngine for JsonataEngine {
    fn compile(&self, source: &str) -> Result<Compiled, String> {
        if source.contains("$eval") {
            return Err(
                "`$eval` is not allowed: upstream data must never be parsed as an expression"
                    .into(),
            );
        }
        let ast = catch_unwind(|| jsonata_core::parser::parse(source))
            .map_err(|_| "the JSONata parser panicked on this expression".to_owned())?
            .map_err(|e| e.to_string())?;
        Ok(Compiled {
            source: source.into(),
            program: Arc::new(ast),
        })
    }

    fn evaluate(
        &self,
        compiled: &Compiled,
        data: &Value,
        bindings: &Bindings,
    ) -> Result<Value, EvalError> {
        let (status, headers) = bindings_to_jvalues(bindings);
        self.run(compiled, &JValue::from(data.clone()), &status, &headers)
    }

    fn evaluate_many(
        &self,
        exprs: &[Option<&Compiled>],
        data: &Value,
        bindings: &Bindings,
    ) -> Vec<Option<Result<Value, EvalError>>> {
        if exprs.iter().all(Option::is_none) {
            return exprs.iter().map(|_| None).collect();
        }
        let (status, headers) = bindings_to_jvalues(bindings);
        let data = JValue::from(data.clone());
        exprs
            .iter()
            .map(|e| e.map(|c| self.run(c, &data, &status, &headers)))
            .collect()
    }
}

/// Compiles `expr` with the default engine, for the config layer to report a bad expression
/// as a config error at its location.
pub fn compile(expr: &str) -> Result<Compiled, String> {
    JsonataEngine::default().compile(expr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(src: &str, data: Value, status: u16) -> Result<Value, EvalError> {
        let engine = JsonataEngine::default();
        let compiled = engine.compile(src).unwrap();
        let mut headers = serde_json::Map::new();
        headers.insert("x-request-id".into(), Value::from("abc"));
        engine.evaluate(&compiled, &data, &Bindings { status, headers })
    }

    #[test]
    fn paths_bindings_and_undefined() {
        let body = serde_json::json!([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]);
        assert_eq!(
            eval("$[0].errorCode", body.clone(), 403).unwrap(),
            "REQUEST_LIMIT_EXCEEDED"
        );
        assert_eq!(eval("$status", body.clone(), 403).unwrap(), 403);
        assert_eq!(
            eval("$headers.`x-request-id`", body.clone(), 403).unwrap(),
            "abc"
        );
        assert_eq!(eval("nothing.here", body, 403).unwrap(), Value::Null);
    }

    #[test]
    fn bad_expressions_are_compile_errors() {
        assert!(compile("error.(").is_err());
        assert!(compile("$eval(message)").is_err());
        assert!(compile("error.message").is_ok());
    }

    #[test]
    fn limits_stop_runaway_expressions() {
        let err = eval(
            "($f := function($n){ $n = 0 ? 0 : 1 + $f($n - 1) }; $f(100000))",
            Value::Null,
            400,
        )
        .unwrap_err();
        assert!(!err.0.is_empty());
        let err = eval("$map([1..1000000], function($x){ $x })", Value::Null, 400).unwrap_err();
        assert!(
            err.0.contains("D2015") || err.0.contains("sequence"),
            "{err}"
        );
    }
}
