//! The rate-limit figures a boundary-log line carries, read from response headers.
//!
//! The reader is a swappable function ([`RateLimitReader`]) so the stack builder can plug in
//! the connector's own mapping (tidegate-upstream's parser, which knows vendor headers and
//! presets). [`read_standard`] is the fallback: the IETF draft headers and the common
//! `X-RateLimit-*` forms.

use std::sync::Arc;

use http::{HeaderMap, HeaderName};

// The names as constants: looking a header up by `&str` parses and validates the name on
// every call, and the reader runs for every logged response.
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// `ratelimit_remaining` / `ratelimit_reset` of a record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimitFigures {
    /// Requests left in the most restrictive window.
    pub remaining: Option<u64>,
    /// Seconds until that window resets (delta, never an epoch).
    pub reset_secs: Option<u64>,
}

/// Reads [`RateLimitFigures`] from a response as received (its headers; a reader may leave
/// what it parsed in the extensions for a layer further out, see the stack builder).
pub type RateLimitReader =
    Arc<dyn Fn(&mut http::Response<tidegate_core::Body>) -> RateLimitFigures + Send + Sync>;

/// The default reader: [`read_standard`].
pub fn standard_reader() -> RateLimitReader {
    Arc::new(|response| read_standard(response.headers()))
}

/// Reads the standard forms:
/// - `RateLimit: "name";r=REMAINING;t=RESET` (draft-ietf-httpapi-ratelimit-headers-10; the
///   lowest `r` wins when several limits are listed);
/// - `RateLimit-Remaining` / `RateLimit-Reset` (earlier drafts; reset in delta-seconds);
/// - `X-RateLimit-Remaining` / `X-RateLimit-Reset` (reset as delta-seconds, or as a Unix
///   epoch when it is larger than ten years of seconds);
/// - `Retry-After` (delta-seconds) as the reset when nothing else gives one.
pub fn read_standard(headers: &HeaderMap) -> RateLimitFigures {
    let mut figures = RateLimitFigures::default();
    let present = Present::of(headers);
    if present == Present::default() {
        return figures;
    }
    for value in present
        .ratelimit
        .then(|| headers.get_all(RATELIMIT))
        .into_iter()
        .flatten()
    {
        let Ok(text) = value.to_str() else { continue };
        for item in text.split(',') {
            let (mut r, mut t) = (None, None);
            for param in item.split(';').skip(1) {
                match param.trim().split_once('=') {
                    Some(("r", v)) => r = v.trim().parse::<u64>().ok(),
                    Some(("t", v)) => t = v.trim().parse::<u64>().ok(),
                    _ => {}
                }
            }
            if let Some(r) = r
                && figures.remaining.is_none_or(|cur| r < cur)
            {
                figures.remaining = Some(r);
                figures.reset_secs = t.or(figures.reset_secs);
            }
        }
    }
    if figures.remaining.is_none() {
        figures.remaining = number(headers, RATELIMIT_REMAINING, present.remaining)
            .or_else(|| number(headers, X_RATELIMIT_REMAINING, present.x_remaining));
    }
    if figures.reset_secs.is_none() {
        figures.reset_secs = number(headers, RATELIMIT_RESET, present.reset)
            .or_else(|| {
                number(headers, X_RATELIMIT_RESET, present.x_reset).map(delta_from_maybe_epoch)
            })
            .or_else(|| number(headers, http::header::RETRY_AFTER, present.retry_after));
    }
    figures
}

/// Which of the names [`read_standard`] reads a response carries: one walk over the names
/// instead of a hash lookup per absent name (most responses carry two of the six, or none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Present {
    ratelimit: bool,
    remaining: bool,
    reset: bool,
    x_remaining: bool,
    x_reset: bool,
    retry_after: bool,
}

impl Present {
    fn of(headers: &HeaderMap) -> Present {
        let mut present = Present::default();
        for name in headers.keys() {
            match name.as_str() {
                "ratelimit" => present.ratelimit = true,
                "ratelimit-remaining" => present.remaining = true,
                "ratelimit-reset" => present.reset = true,
                "x-ratelimit-remaining" => present.x_remaining = true,
                "x-ratelimit-reset" => present.x_reset = true,
                "retry-after" => present.retry_after = true,
                _ => {}
            }
        }
        present
    }
}

/// The smallest integer among a header's (possibly comma-separated) values (`None` without
/// a lookup when the name is known to be absent).
fn number(headers: &HeaderMap, name: HeaderName, present: bool) -> Option<u64> {
    if !present {
        return None;
    }
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|v| v.trim().split('.').next()?.parse::<u64>().ok())
        .min()
}

fn delta_from_maybe_epoch(value: u64) -> u64 {
    const TEN_YEARS: u64 = 10 * 365 * 86_400;
    if value > TEN_YEARS {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        value.saturating_sub(now)
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn structured_field_lowest_remaining_wins() {
        let h = headers(&[("ratelimit", "\"hour\";r=500;t=1200, \"second\";r=3;t=1")]);
        assert_eq!(
            read_standard(&h),
            RateLimitFigures {
                remaining: Some(3),
                reset_secs: Some(1)
            }
        );
    }

    #[test]
    fn x_ratelimit_forms_and_epoch_resets() {
        let h = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "38")]);
        assert_eq!(
            read_standard(&h),
            RateLimitFigures {
                remaining: Some(0),
                reset_secs: Some(38)
            }
        );
        let h = headers(&[("x-ratelimit-reset", "1000000000")]);
        // An epoch in the past: resets now.
        assert_eq!(read_standard(&h).reset_secs, Some(0));
    }

    #[test]
    fn every_name_is_found_among_others() {
        let h = headers(&[
            ("content-type", "application/json"),
            ("ratelimit-remaining", "7, 5"),
            ("ratelimit-reset", "9"),
            ("x-request-id", "r"),
        ]);
        assert_eq!(
            read_standard(&h),
            RateLimitFigures {
                remaining: Some(5),
                reset_secs: Some(9)
            }
        );
        let h = headers(&[("retry-after", "4"), ("x-ratelimit-remaining", "2")]);
        assert_eq!(
            read_standard(&h),
            RateLimitFigures {
                remaining: Some(2),
                reset_secs: Some(4)
            }
        );
    }

    #[test]
    fn retry_after_is_the_fallback_reset() {
        let h = headers(&[("retry-after", "12")]);
        assert_eq!(
            read_standard(&h),
            RateLimitFigures {
                remaining: None,
                reset_secs: Some(12)
            }
        );
        assert_eq!(
            read_standard(&HeaderMap::new()),
            RateLimitFigures::default()
        );
    }
}
