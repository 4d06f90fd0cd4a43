//! Line timestamps (`2026-10-14T08:12:33.412Z`), written digit by digit.
//!
//! Every line carries one, taken on the request's task; `format!` with seven padded fields
//! and a civil-date conversion per call cost more than the rest of the line's head. The date
//! and time up to the second only change once a second, so each thread keeps the last
//! second's `YYYY-MM-DDTHH:MM:SS` and only writes the milliseconds.

use std::{
    cell::Cell,
    time::{SystemTime, UNIX_EPOCH},
};

use time::{OffsetDateTime, UtcOffset};

/// The length of `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(crate) const LEN: usize = 24;

/// A formatted timestamp.
pub(crate) enum Stamp {
    /// Years 0..=9999 (every clock we run on): written by hand, ASCII.
    Short([u8; LEN]),
    /// Any other year `time` can hold, written by `format!` (never on a real clock).
    Long(String),
}

impl Stamp {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            // ASCII by construction, so this never falls back.
            Stamp::Short(s) => std::str::from_utf8(s).unwrap_or("1970-01-01T00:00:00.000Z"),
            Stamp::Long(s) => s,
        }
    }
}

thread_local! {
    /// The last second formatted on this thread: (Unix seconds, the stamp of that second).
    static LAST_SECOND: Cell<(i64, [u8; LEN])> = const { Cell::new((i64::MIN, [0; LEN])) };
}

/// Now, as [`format`] would write `OffsetDateTime::now_utc()`.
pub(crate) fn now() -> Stamp {
    let Ok(since_epoch) = SystemTime::now().duration_since(UNIX_EPOCH) else {
        return format(OffsetDateTime::now_utc());
    };
    let Ok(secs) = i64::try_from(since_epoch.as_secs()) else {
        return format(OffsetDateTime::now_utc());
    };
    let millis = since_epoch.subsec_millis();
    let (cached_secs, mut stamp) = LAST_SECOND.get();
    if cached_secs != secs {
        let fresh = OffsetDateTime::from_unix_timestamp(secs).ok().map(format);
        let Some(Stamp::Short(fresh)) = fresh else {
            return format(OffsetDateTime::now_utc());
        };
        stamp = fresh;
        LAST_SECOND.set((secs, stamp));
    }
    write_millis(&mut stamp, millis);
    Stamp::Short(stamp)
}

/// `at` in UTC with milliseconds, exactly as `format!("{:04}-{:02}-…")` writes it. Years
/// outside 0..=9999 (which `time` can represent but no clock of ours reaches) go through
/// `format!` itself.
pub(crate) fn format(at: OffsetDateTime) -> Stamp {
    let at = at.to_offset(UtcOffset::UTC);
    let Some(year) = u16::try_from(at.year()).ok().filter(|y| *y <= 9999) else {
        return Stamp::Long(format_fallback(at));
    };
    let mut s = *b"0000-00-00T00:00:00.000Z";
    two(&mut s[0..2], year / 100);
    two(&mut s[2..4], year % 100);
    two(&mut s[5..7], u16::from(u8::from(at.month())));
    two(&mut s[8..10], u16::from(at.day()));
    two(&mut s[11..13], u16::from(at.hour()));
    two(&mut s[14..16], u16::from(at.minute()));
    two(&mut s[17..19], u16::from(at.second()));
    write_millis(&mut s, u32::from(at.millisecond()));
    Stamp::Short(s)
}

fn write_millis(s: &mut [u8; LEN], millis: u32) {
    let millis = millis.min(999);
    // Each digit is < 10, so the casts cannot truncate.
    s[20] = b'0' + (millis / 100) as u8;
    s[21] = b'0' + (millis / 10 % 10) as u8;
    s[22] = b'0' + (millis % 10) as u8;
}

fn two(out: &mut [u8], n: u16) {
    // `n` < 100 at every call site.
    out[0] = b'0' + (n / 10 % 10) as u8;
    out[1] = b'0' + (n % 10) as u8;
}

/// The general form (any year `time` can hold).
fn format_fallback(at: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(at: OffsetDateTime) -> String {
        format_fallback(at.to_offset(UtcOffset::UTC))
    }

    #[test]
    fn now_matches_the_reference_format() {
        let before = OffsetDateTime::now_utc();
        let stamp = now();
        let after = OffsetDateTime::now_utc();
        let text = stamp.as_str();
        assert!(
            reference(before).as_str() <= text && text <= reference(after).as_str(),
            "{text}"
        );
        // The cached second is reused and still correct.
        let again = now();
        assert!(again.as_str() >= text);
    }

    #[test]
    fn offsets_are_converted_to_utc() {
        let at = time::macros::datetime!(2026-10-14 10:12:33.412 +02:00);
        assert_eq!(format(at).as_str(), "2026-10-14T08:12:33.412Z");
        let at = time::macros::datetime!(0001-01-01 00:00:00.007 UTC);
        assert_eq!(format(at).as_str(), "0001-01-01T00:00:00.007Z");
        let at = time::macros::datetime!(-0044-03-15 12:00:00 UTC);
        assert_eq!(format(at).as_str(), reference(at));
    }

    proptest! {
        #[test]
        fn any_instant_is_written_as_format_writes_it(
            secs in -62_135_596_800i64..253_402_300_799,
            nanos in 0u32..1_000_000_000,
        ) {
            let at = OffsetDateTime::from_unix_timestamp(secs).unwrap()
                + time::Duration::nanoseconds(i64::from(nanos));
            let stamp = format(at);
            prop_assert_eq!(stamp.as_str(), reference(at));
        }
    }
}
