//! Property tests of every header parser: never panic, resets never negative (they are
//! unsigned and clamped), and the output is never more permissive than the input.

use std::time::{Duration, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue, StatusCode};
use proptest::prelude::*;
use tidegate_upstream::ratelimit::{
    Limit, MAX_DELAY_SECS, RateLimitSettings, apply_headers, emit, most_restrictive, parse,
};
use tidegate_upstream::settings::{RateLimitParts, rate_limit_settings};

fn settings_for_tests(limit: &str, remaining: &str, reset: &str, unit: &str) -> RateLimitSettings {
    rate_limit_settings(&RateLimitParts {
        limit: Some(limit),
        remaining: Some(remaining),
        reset: Some(reset),
        reset_unit: Some(unit),
        ..Default::default()
    })
    .unwrap()
}

fn now_strategy() -> impl Strategy<Value = std::time::SystemTime> {
    (0u64..4_000_000_000, 0u32..1_000_000_000).prop_map(|(s, n)| UNIX_EPOCH + Duration::new(s, n))
}

fn limit_strategy() -> impl Strategy<Value = Limit> {
    (
        "[a-z\"\\\\ é-]{0,12}",
        0u64..2_000_000,
        0u64..2_000_000,
        proptest::option::of(0u64..200_000),
        proptest::option::of(0u64..200_000),
    )
        .prop_map(|(name, quota, remaining, reset, window)| {
            Limit::new(name, quota, remaining)
                .with_reset(reset)
                .with_window(window)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn text_parsers_never_panic_and_stay_clamped(s in "\\PC{0,80}", now in now_strategy()) {
        for r in [parse::retry_after(&s, now), parse::auto_reset(&s, now), parse::delay_seconds(&s),
                  parse::epoch_seconds_reset(&s, now), parse::epoch_millis_reset(&s, now),
                  parse::iso8601_reset(&s, now), parse::http_date_reset(&s, now), parse::millis_delay(&s)]
            .into_iter()
            .flatten()
        {
            prop_assert!(r <= MAX_DELAY_SECS);
        }
        let _ = parse::ietf_structured(&s, Some(&s));
        let _ = parse::ietf_draft07(&s, Some(&s));
        let _ = parse::ietf_triple(Some(&s), &s, Some(&s), Some(&s));
        let _ = parse::sforce_limit_info(&s);
        let _ = parse::zendesk_endpoint(&s);
        let _ = parse::used_of_limit(&s);
        let _ = parse::sf_list(&s);
        let _ = parse::sf_dictionary(&s);
    }

    #[test]
    fn structured_grammar_fragments_never_panic(parts in proptest::collection::vec(
        prop_oneof![Just("\""), Just(";"), Just(","), Just("="), Just("r"), Just("q"), Just("t"), Just("w"),
                    Just(":"), Just("("), Just(")"), Just("?1"), Just("-"), Just("1"), Just("99999999999999999"),
                    Just(" "), Just("\\"), Just("a"), Just("."), Just("*")], 0..40)) {
        let s: String = parts.concat();
        let _ = parse::ietf_structured(&s, Some(&s));
        let _ = parse::ietf_draft07(&s, None);
    }

    #[test]
    fn delay_seconds_round_up_and_clamp(whole in 0u64..10_000_000, frac in 0u32..1000) {
        let v = parse::delay_seconds(&format!("{whole}.{frac:03}")).unwrap();
        let expected = (whole + u64::from(frac > 0)).min(MAX_DELAY_SECS);
        prop_assert_eq!(v, expected);
    }

    #[test]
    fn epoch_resets_are_never_earlier_than_the_upstream_said(at in 0u64..4_000_000_000, now in now_strategy()) {
        let reset = parse::epoch_seconds_reset(&at.to_string(), now).unwrap();
        let now_f = now.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
        let true_wait = at as f64 - now_f;
        if true_wait <= MAX_DELAY_SECS as f64 {
            prop_assert!(reset as f64 >= true_wait, "reset {reset} < true wait {true_wait}");
            prop_assert!((reset as f64) < true_wait.max(0.0) + 1.0);
        } else {
            prop_assert_eq!(reset, MAX_DELAY_SECS);
        }
    }

    #[test]
    fn iso_resets_match_the_instant(offset in 0u64..86_400, now in now_strategy()) {
        let at = now + Duration::from_secs(offset);
        let t = time::OffsetDateTime::from(at);
        let text = format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second(), t.nanosecond());
        prop_assert_eq!(parse::iso8601_reset(&text, now), Some(offset));
    }

    #[test]
    fn emission_is_never_more_permissive(limits in proptest::collection::vec(limit_strategy(), 1..6)) {
        let (policy, state) = emit::structured_fields(&limits);
        let back = parse::ietf_structured(&state, Some(&policy)).expect("our output parses");
        prop_assert_eq!(back.len(), limits.len());
        for (out, inp) in back.iter().zip(&limits) {
            prop_assert!(out.remaining <= inp.remaining);
            prop_assert!(out.quota <= inp.quota.max(inp.remaining));
            if let Some(r) = inp.reset_secs { prop_assert!(out.reset_secs.unwrap() >= r); }
        }
    }

    #[test]
    fn the_triple_shows_a_most_restrictive_limit(limits in proptest::collection::vec(limit_strategy(), 1..6)) {
        let top = most_restrictive(&limits).unwrap();
        if limits.iter().any(|l| l.remaining == 0) {
            prop_assert_eq!(top.remaining, 0);
        } else {
            for l in &limits {
                // remaining/quota of the chosen one is <= every other's (quota 0 counts as 0).
                let lhs = u128::from(top.remaining) * u128::from(l.quota.max(1)) * u128::from(u8::from(top.quota != 0));
                let rhs = u128::from(l.remaining) * u128::from(top.quota.max(1)) * u128::from(u8::from(l.quota != 0));
                prop_assert!(lhs <= rhs, "{:?} chosen over {:?}", top, l);
            }
        }
    }

    #[test]
    fn vendor_triples_round_trip_without_loosening(
        quota in 0u64..u64::MAX, remaining in 0u64..u64::MAX, reset in 0u64..1_000_000,
        unit_is_epoch in any::<bool>(), now in now_strategy(), status in prop_oneof![Just(200u16), Just(429), Just(503)],
    ) {
        let now_secs = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-limit", HeaderValue::from(quota));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
        let (reset_value, unit) = if unit_is_epoch { (now_secs + reset, "epoch_seconds") } else { (reset, "seconds") };
        headers.insert("x-ratelimit-reset", HeaderValue::from(reset_value));
        let settings: RateLimitSettings = settings_for_tests("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", unit);
        let info = settings.extract(&headers, now);
        let mut out = headers.clone();
        apply_headers(&mut out, StatusCode::from_u16(status).unwrap(), &info);
        let get = |n: &str| out.get(n).map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
        prop_assert!(get("ratelimit-remaining").unwrap() <= remaining);
        prop_assert_eq!(get("ratelimit-limit"), Some(quota));
        let out_reset = get("ratelimit-reset").unwrap();
        prop_assert!(out_reset >= reset.min(MAX_DELAY_SECS), "reset {out_reset} < {reset}");
        if status != 200 && remaining == 0 {
            prop_assert!(get("retry-after").unwrap() >= reset.clamp(1, MAX_DELAY_SECS));
        }
    }
}
