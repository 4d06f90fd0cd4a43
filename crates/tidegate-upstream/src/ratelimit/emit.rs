//! The normalized rate-limit headers of CONTRACT §5.
//!
//! ## Which limit the triple shows: "most restrictive"
//!
//! `RateLimit-Limit/-Remaining/-Reset` can show one limit; [`most_restrictive`] picks it by
//! this total order (first difference wins):
//!
//! 1. an **exhausted** limit (`remaining == 0`) beats any other — it is the one blocking calls;
//!    between exhausted limits, the one with the **later reset** (unknown reset counts as the
//!    latest: we cannot promise it frees up sooner);
//! 2. otherwise the **lowest remaining fraction** `remaining / quota` (compared exactly, by
//!    cross-multiplication; a zero quota counts as fraction 0);
//! 3. then the **lowest remaining** count;
//! 4. then the **later reset**; then the first reported.
//!
//! Every limit appears in the structured `RateLimit-Policy` / `RateLimit` pair
//! (draft-ietf-httpapi-ratelimit-headers-10), in the order reported.
//!
//! ## Never more permissive
//!
//! Values are copied, not recomputed: remaining as reported (parsers round decimals down),
//! resets as delta-seconds rounded up. A limit without a known reset but with a known window
//! reports the window as its reset (an upper bound). `Retry-After` is added on 429/503 when a
//! reset is known and the upstream sent none; the upstream's own `Retry-After` is rewritten as
//! integer delta-seconds (RFC 9110's HTTP-date forms included), which CONTRACT §4 requires.

use std::cmp::Ordering;

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use super::{Limit, RateLimitInfo};

/// `RateLimit-Limit`.
pub static RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
/// `RateLimit-Remaining`.
pub static RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// `RateLimit-Reset`.
pub static RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
/// `RateLimit-Policy`.
pub static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`.
pub static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Orders `a` before `b` when `a` is more restrictive (see the module docs).
pub fn restrictiveness(a: &Limit, b: &Limit) -> Ordering {
    let reset_desc = |a: &Limit, b: &Limit| {
        // Later reset first; unknown (None) counts as latest.
        let ka = a.effective_reset().unwrap_or(u64::MAX);
        let kb = b.effective_reset().unwrap_or(u64::MAX);
        kb.cmp(&ka)
    };
    let exhausted = |l: &Limit| l.remaining == 0;
    match (exhausted(a), exhausted(b)) {
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        (true, true) => return reset_desc(a, b),
        (false, false) => {}
    }
    // remaining_a / quota_a vs remaining_b / quota_b, exactly.
    let frac = |l: &Limit| {
        if l.quota == 0 {
            (0u128, 1u128)
        } else {
            (u128::from(l.remaining), u128::from(l.quota))
        }
    };
    let (ra, qa) = frac(a);
    let (rb, qb) = frac(b);
    (ra * qb)
        .cmp(&(rb * qa))
        .then(a.remaining.cmp(&b.remaining))
        .then_with(|| reset_desc(a, b))
}

/// The limit the `RateLimit-*` triple shows.
pub fn most_restrictive(limits: &[Limit]) -> Option<&Limit> {
    limits.iter().reduce(|best, l| {
        if restrictiveness(l, best) == Ordering::Less {
            l
        } else {
            best
        }
    })
}

/// `Retry-After` to add on a 429/503 the upstream sent without one: the latest reset among
/// exhausted limits, else the most restrictive limit's reset; at least 1 second.
pub fn implied_retry_after(limits: &[Limit]) -> Option<u64> {
    let exhausted = limits
        .iter()
        .filter(|l| l.remaining == 0)
        .filter_map(Limit::effective_reset)
        .max();
    exhausted
        .or_else(|| most_restrictive(limits).and_then(Limit::effective_reset))
        .map(|s| s.max(1))
}

/// `name` as an sf-string: quoted, `"` and `\` escaped, anything not visible ASCII replaced by
/// `_`, at most 64 characters of the name.
pub fn sf_string(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars().take(64) {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('_'),
        }
    }
    out.push('"');
    out
}

/// The largest Integer a structured field can carry (RFC 9651 §3.3.1: 15 digits). Larger values
/// are clamped down, which only ever makes a quota or remaining count look *smaller*.
pub const SF_INTEGER_MAX: u64 = 999_999_999_999_999;

/// Most limits emitted in the structured fields. Real upstreams report a handful; a hostile
/// `Sforce-Limit-Info` with hundreds of members must not produce a header no client can parse.
/// When there are more, the most restrictive ones are kept (in their original order): dropping a
/// looser limit never makes the picture more permissive than the stricter ones shown.
pub const MAX_EMITTED_LIMITS: usize = 32;

/// Longest policy name emitted (before a `-N` de-duplication suffix).
const MAX_NAME_CHARS: usize = 56;

/// `name` sanitized for an sf-string: anything not visible ASCII becomes `_`, at most
/// [`MAX_NAME_CHARS`] characters (escaping is done by [`sf_string`]).
fn clean_name(name: &str) -> String {
    name.chars()
        .take(MAX_NAME_CHARS)
        .map(|c| if (' '..='~').contains(&c) { c } else { '_' })
        .collect()
}

/// The `RateLimit-Policy` and `RateLimit` values (draft-10) for `limits` (at most
/// [`MAX_EMITTED_LIMITS`]). Names that collide (after cleaning) get a `-2`, `-3`… suffix so
/// that items stay distinguishable.
pub fn structured_fields(limits: &[Limit]) -> (String, String) {
    let mut kept: Vec<usize> = (0..limits.len()).collect();
    if kept.len() > MAX_EMITTED_LIMITS {
        kept.sort_by(|a, b| restrictiveness(&limits[*a], &limits[*b]).then(a.cmp(b)));
        kept.truncate(MAX_EMITTED_LIMITS);
        kept.sort_unstable();
    }
    let mut policy = String::new();
    let mut state = String::new();
    let mut names: Vec<String> = Vec::with_capacity(kept.len());
    for (i, l) in kept.iter().map(|i| &limits[*i]).enumerate() {
        let base = clean_name(&l.name);
        let mut name = base.clone();
        let mut n = 1;
        while names.contains(&name) {
            n += 1;
            name = format!("{base}-{n}");
        }
        let quoted = sf_string(&name);
        names.push(name);
        if i > 0 {
            policy.push_str(", ");
            state.push_str(", ");
        }
        // Pushed piece by piece: `write!` went through the formatting machinery for every
        // number of every response with limits.
        policy.push_str(&quoted);
        push_param(&mut policy, ";q=", l.quota.min(SF_INTEGER_MAX));
        if let Some(w) = l.window_secs {
            push_param(&mut policy, ";w=", w.min(SF_INTEGER_MAX));
        }
        state.push_str(&quoted);
        push_param(&mut state, ";r=", l.remaining.min(SF_INTEGER_MAX));
        if let Some(t) = l.effective_reset() {
            push_param(&mut state, ";t=", t);
        }
    }
    (policy, state)
}

/// Appends `key` and `n` in decimal.
fn push_param(out: &mut String, key: &str, n: u64) {
    out.push_str(key);
    out.push_str(itoa::Buffer::new().format(n));
}

fn set(headers: &mut HeaderMap, name: &HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name.clone(), v);
    }
}

fn set_u64(headers: &mut HeaderMap, name: &HeaderName, value: u64) {
    headers.insert(name.clone(), HeaderValue::from(value));
}

/// Writes the normalized headers for `info` into `headers` of a response with `status`.
///
/// When `info` has limits, any upstream `RateLimit*` fields are replaced by the normalized ones
/// (which carry the same or stricter values). When it has none, upstream fields are left alone.
pub fn apply_headers(headers: &mut HeaderMap, status: StatusCode, info: &RateLimitInfo) {
    if let Some(top) = most_restrictive(&info.limits) {
        // Up to six fields: room for them at once, not a regrowth of the map per insert.
        headers.reserve(6);
        set_u64(headers, &RATELIMIT_LIMIT, top.quota);
        set_u64(headers, &RATELIMIT_REMAINING, top.remaining);
        match top.effective_reset() {
            Some(reset) => set_u64(headers, &RATELIMIT_RESET, reset),
            None => {
                headers.remove(&RATELIMIT_RESET);
            }
        }
        let (policy, state) = structured_fields(&info.limits);
        set(headers, &RATELIMIT_POLICY, &policy);
        set(headers, &RATELIMIT, &state);
    }
    let retry_after = info.retry_after.or_else(|| {
        matches!(status.as_u16(), 429 | 503)
            .then(|| implied_retry_after(&info.limits))
            .flatten()
    });
    if let Some(secs) = retry_after {
        set_u64(headers, &http::header::RETRY_AFTER, secs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exhausted_limit_wins_then_fraction() {
        let a = Limit::new("burst", 100, 50).with_reset(Some(30));
        let b = Limit::new("daily", 1000, 100).with_reset(Some(3600));
        assert_eq!(
            most_restrictive(&[a.clone(), b.clone()]).unwrap().name,
            "daily"
        );
        let c = Limit::new("secondly", 10, 0).with_reset(Some(1));
        assert_eq!(most_restrictive(&[a, b, c]).unwrap().name, "secondly");
    }

    #[test]
    fn sf_strings_are_valid() {
        assert_eq!(sf_string("burst"), "\"burst\"");
        assert_eq!(sf_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(sf_string("é\n"), "\"__\"");
    }

    #[test]
    fn structured_output_literal() {
        let limits = vec![
            Limit::new("burst", 100, 50)
                .with_reset(Some(30))
                .with_window(Some(60)),
            Limit::new("daily", 1000, 999).with_window(Some(86400)),
            Limit::new("burst", 5, 5),
        ];
        let (policy, state) = structured_fields(&limits);
        assert_eq!(
            policy,
            r#""burst";q=100;w=60, "daily";q=1000;w=86400, "burst-2";q=5"#
        );
        assert_eq!(
            state,
            r#""burst";r=50;t=30, "daily";r=999;t=86400, "burst-2";r=5"#
        );
    }
}
