//! Deserializing one table while collecting *every* error in it.
//!
//! serde stops at the first error. To report more, [`deserialize_all`] records the error,
//! removes the key it points at from the (spanned) table and tries again, a bounded number of
//! times. Removing a required key makes serde complain that it is missing; those follow-on
//! complaints are recognised and dropped.

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::diag::Diagnostics;

/// Upper bound on deserialization attempts for one table.
const MAX_ATTEMPTS: usize = 96;

/// Stand-ins tried, in order, for a missing required key so that deserialization can go on
/// and report the *other* problems of the table. Errors about them are never shown.
const PLACEHOLDERS: &[&str] = &["\"\"", "0", "{}", "[]", "false", "0.0"];

/// Deserializes `value` (the table at config path `path`) as `T`, reporting every error found.
/// Returns the value (if it could be built) and the table as it was when it succeeded, for
/// locating later semantic errors. `quiet_missing` drops "missing key" errors (used when an
/// unknown preset is the real cause).
pub(crate) fn deserialize_all<'i, T: DeserializeOwned>(
    mut value: Spanned<DeValue<'i>>,
    path: &[&str],
    diag: &mut Diagnostics,
    quiet_missing: bool,
) -> (Option<T>, Spanned<DeValue<'i>>) {
    let mut removed: Vec<String> = Vec::new();
    // (owner table keys, missing key) → placeholders tried so far.
    let mut missing: Vec<((Vec<String>, String), usize)> = Vec::new();
    for _ in 0..MAX_ATTEMPTS {
        let error = match T::deserialize(ValueDeserializer::from(value.clone())) {
            Ok(t) => return (Some(t), value),
            Err(e) => e,
        };
        let span = error.span().unwrap_or_else(|| value.span());
        let keys = match value.get_ref() {
            DeValue::Table(t) => locate(t, &span),
            _ => Vec::new(),
        };
        let mut table_path: Vec<&str> = path.to_vec();
        table_path.extend(
            keys.iter()
                .take(keys.len().saturating_sub(1))
                .map(String::as_str),
        );
        match missing_key(error.message()) {
            Some(key) => {
                let id = (keys.clone(), key.to_owned());
                let tried = match missing.iter_mut().find(|(k, _)| *k == id) {
                    Some((_, tried)) => tried,
                    None => {
                        missing.push((id, 0));
                        &mut missing.last_mut().expect("just pushed").1
                    }
                };
                if *tried == 0 && !quiet_missing && !removed.iter().any(|r| r == key) {
                    // The missing key belongs to the innermost table holding the span.
                    let mut owner = path.to_vec();
                    owner.extend(keys.iter().map(String::as_str));
                    diag.error(
                        span.clone(),
                        format!("missing key `{key}` in {}", describe(&owner)),
                    );
                }
                if let Some(placeholder) = PLACEHOLDERS.get(*tried) {
                    *tried += 1;
                    let span = diag.placeholder_span();
                    let stand_in =
                        DeValue::parse(placeholder).expect("placeholders are valid TOML");
                    if insert(
                        &mut value,
                        &keys,
                        key,
                        Spanned::new(span, stand_in.into_inner()),
                    ) {
                        continue;
                    }
                }
            }
            None => diag.error(span.clone(), rewrite(error.message(), &table_path)),
        }
        if keys.is_empty() || !remove(&mut value, &keys) {
            return (None, value);
        }
        removed.push(keys.last().cloned().unwrap_or_default());
    }
    (None, value)
}

/// The key path (from `table`) of the deepest key whose name or value holds `span`.
///
/// Every table is searched, not only those whose span holds `span`: a table written as a
/// `[header]` section has the span of its header, not of its body.
fn locate(table: &DeTable<'_>, span: &Range<usize>) -> Vec<String> {
    let mut best: Vec<String> = Vec::new();
    for (key, value) in table.iter() {
        let name = key.get_ref().to_string();
        let mut candidate = Vec::new();
        if let DeValue::Table(inner) = value.get_ref() {
            let deeper = locate(inner, span);
            if !deeper.is_empty() {
                candidate = std::iter::once(name.clone()).chain(deeper).collect();
            }
        }
        if candidate.is_empty() && (contains(&key.span(), span) || contains(&value.span(), span)) {
            candidate = vec![name];
        }
        if candidate.len() > best.len() {
            best = candidate;
        }
    }
    best
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end && outer.start < outer.end
}

/// Removes the value at `keys`; `false` if there was nothing to remove.
fn remove(value: &mut Spanned<DeValue<'_>>, keys: &[String]) -> bool {
    let Some((first, rest)) = keys.split_first() else {
        return false;
    };
    let DeValue::Table(table) = value.get_mut() else {
        return false;
    };
    if rest.is_empty() {
        return table.remove(first.as_str()).is_some();
    }
    match table.get_mut(first.as_str()) {
        Some(inner) => remove(inner, rest),
        None => false,
    }
}

/// Inserts `key = stand_in` into the table at `keys`; `false` if there is no such table.
fn insert<'i>(
    value: &mut Spanned<DeValue<'i>>,
    keys: &[String],
    key: &str,
    stand_in: Spanned<DeValue<'i>>,
) -> bool {
    let mut current = value;
    for k in keys {
        match current.get_mut() {
            DeValue::Table(t) => match t.get_mut(k.as_str()) {
                Some(next) => current = next,
                None => return false,
            },
            _ => return false,
        }
    }
    match current.get_mut() {
        DeValue::Table(t) => {
            let key = Spanned::new(stand_in.span(), std::borrow::Cow::Owned(key.to_owned()));
            t.insert(key, stand_in);
            true
        }
        _ => false,
    }
}

/// The span of the value at `keys` below `value`, or of the deepest existing table on the way.
pub(crate) fn span_at(value: &Spanned<DeValue<'_>>, keys: &[&str]) -> Range<usize> {
    let mut current = value;
    for key in keys {
        match current.get_ref().as_table().and_then(|t| t.get(*key)) {
            Some(next) => current = next,
            None => break,
        }
    }
    current.span()
}

/// The span of the key itself (not its value) at `keys`, falling back like [`span_at`].
pub(crate) fn key_span_at(value: &Spanned<DeValue<'_>>, keys: &[&str]) -> Range<usize> {
    let Some((last, parents)) = keys.split_last() else {
        return value.span();
    };
    let mut current = value;
    for key in parents {
        match current.get_ref().as_table().and_then(|t| t.get(*key)) {
            Some(next) => current = next,
            None => return current.span(),
        }
    }
    current
        .get_ref()
        .as_table()
        .and_then(|t| t.get_key_value(*last))
        .map_or_else(|| current.span(), |(k, _)| k.span())
}

/// How a config path reads in a message: "connector `hubspot`", "[server]",
/// "`connectors.hubspot.breaker`".
pub(crate) fn describe(path: &[&str]) -> String {
    match path {
        [] => "the top level".to_owned(),
        ["connectors", name] => format!("connector `{name}`"),
        ["environments", name] => format!("environment `{name}`"),
        [section] => format!("[{section}]"),
        _ => format!("`{}`", path.join(".")),
    }
}

fn missing_key(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.strip_suffix('`')
}

/// Turns serde's wording into the config's: "unknown field" → "unknown key ... in ...;
/// expected one of: a, b", "unknown variant" → "unknown value".
fn rewrite(message: &str, table_path: &[&str]) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((name, tail)) = rest.split_once('`')
    {
        let place = describe(table_path);
        let expected = tail
            .strip_prefix(", expected ")
            .map(|list| {
                list.trim_start_matches("one of ")
                    .split([',', ' '])
                    .filter(|w| !w.is_empty() && *w != "or")
                    .map(|w| w.trim_matches('`'))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|list| !list.is_empty());
        return match expected {
            Some(list) => format!("unknown key `{name}` in {place}; expected one of: {list}"),
            None => format!("unknown key `{name}` in {place}; it takes no keys"),
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        return format!("unknown value {rest}");
    }
    message.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_serde_wording() {
        assert_eq!(
            rewrite(
                "unknown field `breakr`, expected one of `preset`, `base_url`, `breaker`",
                &["connectors", "hubspot"]
            ),
            "unknown key `breakr` in connector `hubspot`; expected one of: preset, base_url, breaker"
        );
        assert_eq!(
            rewrite("unknown field `x`, expected `a` or `b`", &["server"]),
            "unknown key `x` in [server]; expected one of: a, b"
        );
        assert_eq!(
            rewrite(
                "unknown field `x`, there are no fields",
                &["connectors", "c", "auth"]
            ),
            "unknown key `x` in `connectors.c.auth`; it takes no keys"
        );
        assert_eq!(
            rewrite("unknown variant `fil`, expected `file` or `env`", &["keys"]),
            "unknown value `fil`, expected `file` or `env`"
        );
        assert_eq!(
            rewrite("invalid type: integer `1`", &[]),
            "invalid type: integer `1`"
        );
    }
}
