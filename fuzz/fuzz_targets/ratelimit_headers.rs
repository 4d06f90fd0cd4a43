//! Every rate-limit header parser, on arbitrary header values: never panics, never emits a
//! reset beyond the clamp, never more permissive than what was parsed.
#![no_main]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;
use tidegate_upstream::ratelimit::{MAX_DELAY_SECS, apply_headers, emit::MAX_EMITTED_LIMITS, parse};
use tidegate_upstream::settings::{RateLimitParts, rate_limit_settings};

const NAMES: &[&str] = &[
    "ratelimit", "ratelimit-policy", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset",
    "retry-after", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
    "sforce-limit-info", "x-shopify-shop-api-call-limit", "x-hubspot-ratelimit-max",
    "x-hubspot-ratelimit-remaining", "x-hubspot-ratelimit-interval-milliseconds",
    "x-hubspot-ratelimit-daily", "x-hubspot-ratelimit-daily-remaining", "x-rate-limit",
    "x-rate-limit-remaining", "zendesk-ratelimit-tickets-index", "x-daylimit-remaining",
    "x-minlimit-remaining", "x-appminlimit-remaining",
];

const FORMATS: &[&str] = &["plain", "ietf", "shopify", "salesforce", "zendesk", "hubspot", "xero"];

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let now = UNIX_EPOCH + Duration::from_secs(u64::from_le_bytes(data[..8].try_into().unwrap()) % 4_000_000_000);
    let format = FORMATS[usize::from(data[8]) % FORMATS.len()];
    let rest = &data[9..];

    // Direct parsers on the raw text.
    let text = String::from_utf8_lossy(rest);
    for r in [parse::retry_after(&text, now), parse::auto_reset(&text, now), parse::delay_seconds(&text)] {
        if let Some(secs) = r {
            assert!(secs <= MAX_DELAY_SECS);
        }
    }
    let _ = parse::ietf_structured(&text, Some(&text));
    let _ = parse::ietf_draft07(&text, Some(&text));
    let _ = parse::sforce_limit_info(&text);
    let _ = parse::iso8601(&text);

    // A header map: segments separated by 0xff, each "name index byte + value".
    let mut headers = HeaderMap::new();
    for seg in rest.split(|b| *b == 0xff) {
        let Some((idx, value)) = seg.split_first() else { continue };
        let name = HeaderName::from_static(NAMES[usize::from(*idx) % NAMES.len()]);
        if let Ok(v) = HeaderValue::from_bytes(value) {
            headers.append(name, v);
        }
    }
    let settings = rate_limit_settings(&RateLimitParts {
        limit: Some("x-ratelimit-limit"),
        remaining: Some("x-ratelimit-remaining"),
        reset: Some("x-ratelimit-reset"),
        reset_unit: Some("auto"),
        format: Some(format),
        window: None,
    })
    .unwrap();
    let info = settings.extract(&headers, now);
    for l in &info.limits {
        assert!(l.reset_secs.is_none_or(|r| r <= MAX_DELAY_SECS));
    }
    let mut out = headers.clone();
    apply_headers(&mut out, StatusCode::TOO_MANY_REQUESTS, &info);
    if let Some(top) = tidegate_upstream::ratelimit::most_restrictive(&info.limits) {
        let remaining: u64 = out["ratelimit-remaining"].to_str().unwrap().parse().unwrap();
        assert_eq!(remaining, top.remaining);
        // The structured pair we emit parses back into the same limits.
        let policy = out["ratelimit-policy"].to_str().unwrap();
        let state = out["ratelimit"].to_str().unwrap();
        let back = parse::ietf_structured(state, Some(policy)).expect("our own output parses");
        assert_eq!(back.len(), info.limits.len().min(MAX_EMITTED_LIMITS));
        if info.limits.len() <= MAX_EMITTED_LIMITS {
            for (a, b) in back.iter().zip(&info.limits) {
                assert!(a.remaining <= b.remaining);
                assert!(a.effective_reset() >= b.reset_secs);
            }
        }
        // The triple's limit is always among the emitted ones.
        assert!(back.iter().any(|l| l.remaining == top.remaining.min(999_999_999_999_999)));
    }
    let _ = SystemTime::now; // the parsers never read a clock; `now` above is synthetic
});
