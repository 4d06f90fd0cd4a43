//! `${VAR}` / `${VAR:-default}` interpolation in every string value of the document.
//!
//! Runs on the spanned tree before anything is deserialized, so every unset variable in the
//! file is reported (with its location) in one pass. `$${` writes a literal `${`. Like a shell,
//! `${VAR:-default}` uses the default when VAR is unset *or empty*; a plain `${VAR}` set to the
//! empty string yields the empty string.

use std::borrow::Cow;

use toml::de::{DeTable, DeValue};

use super::diag::Diagnostics;

/// Interpolates every string value (not keys) in `table`, recording errors in `diag`.
pub(crate) fn interpolate_table(
    table: &mut DeTable<'_>,
    env: &dyn Fn(&str) -> Option<String>,
    diag: &mut Diagnostics,
) {
    for (_, value) in table.iter_mut() {
        let span = value.span();
        interpolate_value(value.get_mut(), span, env, diag);
    }
}

fn interpolate_value(
    value: &mut DeValue<'_>,
    span: std::ops::Range<usize>,
    env: &dyn Fn(&str) -> Option<String>,
    diag: &mut Diagnostics,
) {
    match value {
        DeValue::String(s) => {
            if !s.contains('$') {
                return;
            }
            match interpolate(s, env) {
                Ok(out) => {
                    if out != **s {
                        diag.note_interpolated(span, out.clone());
                    }
                    *s = Cow::Owned(out);
                }
                Err(problems) => {
                    for problem in problems {
                        diag.error(span.clone(), problem);
                    }
                    diag.poison(span);
                    // Leave an empty string so later stages see a value of the right type;
                    // their complaints about it are swallowed by the poisoned span.
                    *s = Cow::Owned(String::new());
                }
            }
        }
        DeValue::Array(items) => {
            for item in items.iter_mut() {
                let span = item.span();
                interpolate_value(item.get_mut(), span, env, diag);
            }
        }
        DeValue::Table(table) => interpolate_table(table, env, diag),
        DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_) | DeValue::Datetime(_) => {}
    }
}

/// Expands `${VAR}`, `${VAR:-default}` and `$${` in `input`. Returns every problem found in the
/// string (unset variables, malformed references), not just the first.
pub fn interpolate(
    input: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Vec<String>> {
    let mut out = String::with_capacity(input.len());
    let mut problems = Vec::new();
    let mut rest = input;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let Some(close) = tail.find('}') else {
                problems.push(
                    "unterminated `${` in string: write `${NAME}`, or `$${` for a literal `${`"
                        .to_owned(),
                );
                rest = "";
                break;
            };
            let reference = &tail[..close];
            let (name, default) = match reference.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (reference, None),
            };
            if !is_var_name(name) {
                problems.push(format!(
                    "invalid variable reference `${{{reference}}}`: a name is letters, digits and \
                     `_`, not starting with a digit (write `$${{` for a literal `${{`)"
                ));
            } else {
                match (env(name), default) {
                    (Some(v), Some(d)) if v.is_empty() => out.push_str(d),
                    (Some(v), _) => out.push_str(&v),
                    (None, Some(d)) => out.push_str(d),
                    (None, None) => problems.push(format!(
                        "environment variable `{name}` is not set (write ${{{name}:-default}} to \
                         give a default)"
                    )),
                }
            }
            rest = &tail[close + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("example.com".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_references_defaults_and_escapes() {
        let ok = |s: &str| interpolate(s, &env).unwrap();
        assert_eq!(ok("plain"), "plain");
        assert_eq!(ok("https://${HOST}/x"), "https://example.com/x");
        assert_eq!(ok("${MISSING:-fallback}"), "fallback");
        assert_eq!(ok("${MISSING:-}"), "");
        assert_eq!(ok("${HOST:-other}"), "example.com");
        assert_eq!(ok("${EMPTY:-d}"), "d");
        assert_eq!(ok("${EMPTY}"), "");
        assert_eq!(ok("$${HOST}"), "${HOST}");
        assert_eq!(ok("cost: $5 and $"), "cost: $5 and $");
        assert_eq!(ok("${HOST}${HOST}"), "example.comexample.com");
        assert_eq!(ok("${MISSING:-a:-b}"), "a:-b");
    }

    #[test]
    fn reports_every_problem_in_a_string() {
        let err = interpolate("${A}-${B:-x}-${C}", &env).unwrap_err();
        assert_eq!(
            err,
            vec![
                "environment variable `A` is not set (write ${A:-default} to give a default)",
                "environment variable `C` is not set (write ${C:-default} to give a default)",
            ]
        );
        assert!(interpolate("${1X}", &env).unwrap_err()[0].contains("invalid variable reference"));
        assert!(interpolate("${}", &env).unwrap_err()[0].contains("invalid variable reference"));
        assert!(interpolate("abc ${HOST", &env).unwrap_err()[0].contains("unterminated"));
    }
}
