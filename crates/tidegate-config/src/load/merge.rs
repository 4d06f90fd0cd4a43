//! Deep merge of a preset table under a connector table.
//!
//! Rules (CONTRACT §2): tables merge key by key, recursively, and the connector wins every key
//! it sets; arrays and scalars are replaced whole. The one exception is `auth`: when the
//! connector's `auth.type` differs from the preset's, the connector's `auth` replaces the
//! preset's entirely (an `api_key` auth must not inherit an OAuth `token_url`).

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

/// Merges `over` (the connector) over `base` (the preset) and returns the result.
pub(crate) fn merge_connector<'i>(base: DeTable<'i>, over: DeTable<'i>) -> DeTable<'i> {
    merge_tables(base, over, true)
}

fn merge_tables<'i>(mut base: DeTable<'i>, over: DeTable<'i>, connector_root: bool) -> DeTable<'i> {
    for (key, over_value) in over {
        let merged = match base.remove(key.get_ref().as_ref()) {
            Some(base_value) => {
                let replaces_whole = connector_root
                    && key.get_ref() == "auth"
                    && auth_type(&over_value).is_some_and(|t| Some(t) != auth_type(&base_value));
                merge_values(base_value, over_value, replaces_whole)
            }
            None => over_value,
        };
        base.insert(key, merged);
    }
    base
}

fn merge_values<'i>(
    base: Spanned<DeValue<'i>>,
    over: Spanned<DeValue<'i>>,
    replace: bool,
) -> Spanned<DeValue<'i>> {
    if replace {
        return over;
    }
    let span = over.span();
    match (base.into_inner(), over.into_inner()) {
        (DeValue::Table(b), DeValue::Table(o)) => {
            Spanned::new(span, DeValue::Table(merge_tables(b, o, false)))
        }
        (_, o) => Spanned::new(span, o),
    }
}

fn auth_type<'a>(value: &'a Spanned<DeValue<'_>>) -> Option<&'a str> {
    value.get_ref().as_table()?.get("type")?.get_ref().as_str()
}

/// Moves every span of a preset table by `offset`, into the "virtual" region past the end of
/// the config text that [`super::diag::Diagnostics`] maps back to the connector's
/// `preset = "..."` line. Each preset value keeps a distinct span, so an error about one of them
/// can still be pinned to exactly that value.
pub(crate) fn shift_table<'i>(table: DeTable<'i>, offset: usize) -> DeTable<'i> {
    table
        .into_iter()
        .map(|(k, v)| {
            let key_span = shift(k.span(), offset);
            (
                Spanned::new(key_span, k.into_inner()),
                shift_value(v, offset),
            )
        })
        .collect()
}

fn shift_value<'i>(value: Spanned<DeValue<'i>>, offset: usize) -> Spanned<DeValue<'i>> {
    let span = shift(value.span(), offset);
    let value = match value.into_inner() {
        DeValue::Table(t) => DeValue::Table(shift_table(t, offset)),
        DeValue::Array(items) => DeValue::Array(
            items
                .into_iter()
                .map(|item| shift_value(item, offset))
                .collect::<DeArray<'i>>(),
        ),
        other => other,
    };
    Spanned::new(span, value)
}

fn shift(span: Range<usize>, offset: usize) -> Range<usize> {
    span.start + offset..span.end + offset
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(base: &str, over: &str) -> toml::Value {
        let b = DeTable::parse(base).unwrap().into_inner();
        let o = DeTable::parse(over).unwrap().into_inner();
        let m = merge_connector(b, o);
        let value: toml::Value = serde::Deserialize::deserialize(
            toml::de::ValueDeserializer::from(Spanned::new(0..0, DeValue::Table(m))),
        )
        .unwrap();
        value
    }

    #[test]
    fn connector_wins_key_by_key_and_arrays_replace() {
        let m = merged(
            "timeout = '15s'\nretry = { max_attempts = 3, on = ['502', '503'] }\ncategory = 'crm'",
            "timeout = '5s'\nretry = { on = ['504'] }",
        );
        assert_eq!(m["timeout"].as_str(), Some("5s"));
        assert_eq!(m["category"].as_str(), Some("crm"));
        assert_eq!(m["retry"]["max_attempts"].as_integer(), Some(3));
        let on: Vec<_> = m["retry"]["on"].as_array().unwrap().iter().collect();
        assert_eq!(on, vec![&toml::Value::from("504")]);
    }

    #[test]
    fn auth_of_another_type_replaces_whole_and_same_type_merges() {
        let preset = "auth = { type = 'oauth2', token_url = 'https://t', scopes = ['a'] }";
        let m = merged(preset, "auth = { type = 'api_key', header = 'X-Key' }");
        let auth = m["auth"].as_table().unwrap();
        assert_eq!(auth.len(), 2, "{auth:?}");
        assert_eq!(auth["type"].as_str(), Some("api_key"));

        let m = merged(preset, "auth = { type = 'oauth2', client_id = 'id' }");
        let auth = m["auth"].as_table().unwrap();
        assert_eq!(auth["token_url"].as_str(), Some("https://t"));
        assert_eq!(auth["client_id"].as_str(), Some("id"));

        // No type written: same type as the preset's, so the tables merge.
        let m = merged(preset, "auth = { client_id = 'id' }");
        assert_eq!(m["auth"]["token_url"].as_str(), Some("https://t"));
    }

    #[test]
    fn shift_moves_every_span() {
        let t = DeTable::parse("a = { b = [1, { c = 2 }] }")
            .unwrap()
            .into_inner();
        let before = spans(&t);
        let after = spans(&shift_table(t, 1000));
        assert_eq!(before.len(), 8);
        let moved: Vec<_> = before
            .iter()
            .map(|s| s.start + 1000..s.end + 1000)
            .collect();
        assert_eq!(after, moved);
    }

    fn spans(t: &DeTable<'_>) -> Vec<Range<usize>> {
        fn walk(v: &Spanned<DeValue<'_>>, out: &mut Vec<Range<usize>>) {
            out.push(v.span());
            match v.get_ref() {
                DeValue::Table(t) => t.iter().for_each(|(k, v)| {
                    out.push(k.span());
                    walk(v, out);
                }),
                DeValue::Array(a) => a.iter().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for (k, v) in t.iter() {
            out.push(k.span());
            walk(v, &mut out);
        }
        out
    }
}
