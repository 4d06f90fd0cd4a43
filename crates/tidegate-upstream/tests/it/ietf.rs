//! The IETF draft examples (standards reference §1) parse, and the emitted triple and
//! structured fields are exactly what CONTRACT §5 asks for.

use http::{HeaderMap, HeaderValue, StatusCode};
use tidegate_upstream::ratelimit::{Limit, RateLimitSettings, apply_headers};

use super::support::now;

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(*k, HeaderValue::from_static(v));
    }
    map
}

fn normalize(pairs: &[(&'static str, &'static str)], status: u16) -> HeaderMap {
    let mut map = headers(pairs);
    let info = RateLimitSettings::default().extract(&map, now());
    apply_headers(&mut map, StatusCode::from_u16(status).unwrap(), &info);
    map
}

fn get<'a>(map: &'a HeaderMap, name: &str) -> Option<&'a str> {
    map.get(name).map(|v| v.to_str().unwrap())
}

#[test]
fn draft_10_two_policies() {
    let map = normalize(
        &[
            (
                "ratelimit-policy",
                r#""burst";q=100;w=60,"daily";q=1000;w=86400"#,
            ),
            ("ratelimit", r#""burst";r=50;t=30, "daily";r=999;t=3600"#),
        ],
        200,
    );
    // burst: 50% left; daily: 99.9% left → burst is the most restrictive.
    assert_eq!(get(&map, "ratelimit-limit"), Some("100"));
    assert_eq!(get(&map, "ratelimit-remaining"), Some("50"));
    assert_eq!(get(&map, "ratelimit-reset"), Some("30"));
    assert_eq!(
        get(&map, "ratelimit-policy"),
        Some(r#""burst";q=100;w=60, "daily";q=1000;w=86400"#)
    );
    assert_eq!(
        get(&map, "ratelimit"),
        Some(r#""burst";r=50;t=30, "daily";r=999;t=3600"#)
    );
    assert_eq!(get(&map, "retry-after"), None);
}

#[test]
fn draft_10_partition_key_and_unit_and_split_lines() {
    let map = normalize(
        &[
            (
                "ratelimit-policy",
                r#""peruser";q=65535;qu="content-bytes";w=10;pk=:sdfjLJUOUH==:"#,
            ),
            ("ratelimit", r#""peruser";r=999;pk=:dHJpYWwxMjEzMjM=:"#),
            ("ratelimit", r#""default";r=50;t=30"#),
        ],
        200,
    );
    assert_eq!(
        get(&map, "ratelimit-policy"),
        Some(r#""peruser";q=65535;w=10, "default";q=50"#)
    );
    assert_eq!(
        get(&map, "ratelimit"),
        Some(r#""peruser";r=999;t=10, "default";r=50;t=30"#)
    );
    assert_eq!(get(&map, "ratelimit-limit"), Some("65535"));
    assert_eq!(get(&map, "ratelimit-remaining"), Some("999"));
    assert_eq!(get(&map, "ratelimit-reset"), Some("10"));
}

#[test]
fn draft_07_dictionary() {
    let map = normalize(
        &[
            ("ratelimit", "limit=100, remaining=50, reset=5"),
            ("ratelimit-policy", "100;w=10"),
        ],
        200,
    );
    assert_eq!(get(&map, "ratelimit-limit"), Some("100"));
    assert_eq!(get(&map, "ratelimit-remaining"), Some("50"));
    assert_eq!(get(&map, "ratelimit-reset"), Some("5"));
    assert_eq!(
        get(&map, "ratelimit-policy"),
        Some(r#""default";q=100;w=10"#)
    );
    assert_eq!(get(&map, "ratelimit"), Some(r#""default";r=50;t=5"#));
}

#[test]
fn drafts_00_to_06_triple_and_list_limit() {
    let map = normalize(
        &[
            ("ratelimit-limit", "10, 10;w=1, 50;w=60"),
            ("ratelimit-remaining", "0"),
            ("ratelimit-reset", "1"),
        ],
        429,
    );
    assert_eq!(get(&map, "ratelimit-limit"), Some("10"));
    assert_eq!(get(&map, "ratelimit-remaining"), Some("0"));
    assert_eq!(get(&map, "ratelimit-reset"), Some("1"));
    assert_eq!(get(&map, "ratelimit-policy"), Some(r#""default";q=10;w=1"#));
    assert_eq!(get(&map, "ratelimit"), Some(r#""default";r=0;t=1"#));
    assert_eq!(
        get(&map, "retry-after"),
        Some("1"),
        "Retry-After added on a 429 with a known reset"
    );

    let map = normalize(
        &[
            ("ratelimit-limit", "10"),
            ("ratelimit-remaining", "9"),
            ("ratelimit-reset", "1"),
            ("ratelimit-policy", "10;w=1, 50;w=60"),
        ],
        200,
    );
    assert_eq!(get(&map, "ratelimit-policy"), Some(r#""default";q=10;w=1"#));
}

#[test]
fn retry_after_http_date_becomes_delta_seconds() {
    let map = normalize(&[("retry-after", "Sun, 29 Nov 2026 12:01:30 GMT")], 503);
    assert_eq!(get(&map, "retry-after"), Some("90"));
    let map = normalize(&[("retry-after", "Sunday, 29-Nov-26 12:01:30 GMT")], 503);
    assert_eq!(get(&map, "retry-after"), Some("90"));
    let map = normalize(&[("retry-after", "Sun Nov 29 12:01:30 2026")], 503);
    assert_eq!(get(&map, "retry-after"), Some("90"));
    let map = normalize(&[("retry-after", "31536000")], 429);
    assert_eq!(get(&map, "retry-after"), Some("86400"), "clamped to 24 h");
    let map = normalize(&[("retry-after", "1.2")], 429);
    assert_eq!(get(&map, "retry-after"), Some("2"), "decimals round up");
}

#[test]
fn malformed_fields_are_ignored_and_left_alone() {
    let map = normalize(
        &[("ratelimit", r#""a";r=oops"#), ("ratelimit-policy", "((")],
        200,
    );
    assert_eq!(
        get(&map, "ratelimit"),
        Some(r#""a";r=oops"#),
        "unparsed upstream fields are not removed"
    );
    assert_eq!(get(&map, "ratelimit-limit"), None);
}

#[test]
fn no_retry_after_on_success_and_none_invented_without_reset() {
    let map = normalize(
        &[("ratelimit-limit", "10"), ("ratelimit-remaining", "0")],
        200,
    );
    assert_eq!(get(&map, "retry-after"), None);
    let map = normalize(
        &[("ratelimit-limit", "10"), ("ratelimit-remaining", "0")],
        429,
    );
    assert_eq!(
        get(&map, "retry-after"),
        None,
        "no reset known, nothing to say"
    );
    assert_eq!(get(&map, "ratelimit-reset"), None);
}

#[test]
fn sf_string_names_are_escaped() {
    let limits = vec![Limit::new("we\"ird\\name é", 5, 1)];
    let (policy, state) = tidegate_upstream::ratelimit::emit::structured_fields(&limits);
    assert_eq!(policy, r#""we\"ird\\name _";q=5"#);
    assert_eq!(state, r#""we\"ird\\name _";r=1"#);
    let back = tidegate_upstream::ratelimit::parse::ietf_structured(&state, Some(&policy)).unwrap();
    assert_eq!(back[0].name, "we\"ird\\name _");
}

/// Regression (found by the `ratelimit_headers` fuzz target): a `Sforce-Limit-Info` with many
/// long, colliding member names must still produce structured fields that parse.
#[test]
fn many_colliding_limits_still_emit_parseable_fields() {
    let long = "a".repeat(80);
    let value: String = (0..100)
        .map(|i| format!("{long}{i}={i}/250"))
        .collect::<Vec<_>>()
        .join("; ");
    let mut map = HeaderMap::new();
    map.insert("sforce-limit-info", HeaderValue::from_str(&value).unwrap());
    let settings = tidegate_upstream::settings::rate_limit_settings(
        &tidegate_upstream::settings::RateLimitParts {
            format: Some("salesforce"),
            ..Default::default()
        },
    )
    .unwrap();
    let info = settings.extract(&map, now());
    assert_eq!(info.limits.len(), 100);
    apply_headers(&mut map, StatusCode::OK, &info);
    let back = tidegate_upstream::ratelimit::parse::ietf_structured(
        get(&map, "ratelimit").unwrap(),
        get(&map, "ratelimit-policy"),
    )
    .expect("parses");
    assert_eq!(back.len(), 32);
    // The 32 most restrictive are the ones with the most used: members 68..=99.
    assert_eq!(back.iter().map(|l| l.remaining).max(), Some(250 - 68));
    let names: std::collections::HashSet<&str> = back.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names.len(), 32, "names stay distinct");
    assert_eq!(get(&map, "ratelimit-remaining"), Some("151"));
}
