//! Human-written durations (`"250ms"`, `"15s"`, `"5m"`, `"1h"`, `"30d"`) and sizes (`"64KiB"`,
//! `"10MiB"`, `"2GiB"`, `"500KB"`), plus the serde adapters the config model uses for them.
//!
//! Config values are strings on purpose: `timeout = 15` is ambiguous (seconds? ms?), while
//! `timeout = "15s"` is not. Other crates reuse [`parse_duration`] / [`parse_size`] so that a
//! duration means the same thing everywhere (CLI flags, admin API, presets).

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

const DURATION_HINT: &str = "expected a number followed by ms, s, m, h or d";
const SIZE_HINT: &str =
    "expected a number followed by B, KiB, MiB, GiB, TiB (binary) or KB, MB, GB, TB (decimal)";

/// Parses a duration such as `"250ms"`, `"15s"`, `"1.5s"`, `"5m"`, `"1h"` or `"30d"`.
///
/// The number may be fractional; the unit is required (a bare `"15"` is rejected, because the
/// reader cannot know what it means). Whitespace around the value and between the number and the
/// unit is tolerated. The error text is meant to be shown to a user as is.
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {input:?}: {DURATION_HINT}");
    let (number, unit) = split_number(input.trim()).ok_or_else(bad)?;
    let nanos_per_unit: u128 = match unit {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        "d" => 86_400 * 1_000_000_000,
        _ => return Err(bad()),
    };
    let nanos = scale(number, nanos_per_unit).ok_or_else(bad)?;
    let secs = u64::try_from(nanos / 1_000_000_000)
        .map_err(|_| format!("invalid duration {input:?}: too large"))?;
    Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

/// Parses a size such as `"64KiB"`, `"10MiB"`, `"2GiB"` (powers of 1024) or `"500KB"`, `"10MB"`
/// (powers of 1000), or `"512B"`. Returns the number of bytes.
pub fn parse_size(input: &str) -> Result<u64, String> {
    let bad = || format!("invalid size {input:?}: {SIZE_HINT}");
    let (number, unit) = split_number(input.trim()).ok_or_else(bad)?;
    let bytes_per_unit: u128 = match unit {
        "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        _ => return Err(bad()),
    };
    let bytes = scale(number, bytes_per_unit).ok_or_else(bad)?;
    u64::try_from(bytes).map_err(|_| format!("invalid size {input:?}: too large"))
}

/// Writes a duration in the largest unit that represents it exactly, so that
/// `parse_duration(&format_duration(d)) == d` for every duration with whole milliseconds, and
/// the result reads naturally in reports (`"30s"`, `"15m"`, `"1d"`).
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    for (unit, per) in [
        ("d", 86_400_000_000_000u128),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
    ] {
        if nanos.is_multiple_of(per) {
            return format!("{}{unit}", nanos / per);
        }
    }
    // Sub-millisecond precision: fractional milliseconds, exact up to the nanosecond.
    format!("{}.{:06}ms", nanos / 1_000_000, nanos % 1_000_000)
}

/// Writes a size in the largest binary unit that represents it exactly (`"64KiB"`, `"10MiB"`).
pub fn format_size(bytes: u64) -> String {
    for (unit, per) in [
        ("TiB", 1u64 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ] {
        if bytes != 0 && bytes.is_multiple_of(per) {
            return format!("{}{unit}", bytes / per);
        }
    }
    format!("{bytes}B")
}

/// Splits `"12.5 MiB"` into (`"12.5"`, `"MiB"`). `None` when there is no number or no unit.
fn split_number(s: &str) -> Option<(&str, &str)> {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(end);
    if number.is_empty() || unit.trim().is_empty() {
        return None;
    }
    Some((number, unit.trim()))
}

/// Multiplies a decimal number written as text by an integer factor without going through
/// floating point (so `"0.1s"` is exactly 100ms). Fractions finer than one base unit are
/// truncated. `None` on malformed numbers or overflow.
fn scale(number: &str, factor: u128) -> Option<u128> {
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if frac_part.contains('.') || int_part.len() > 30 {
        return None;
    }
    let int: u128 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().ok()?
    };
    let mut total = int.checked_mul(factor)?;
    if !frac_part.is_empty() {
        if !frac_part.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        // Digits past the 18th cannot matter for any unit used here; dropping them keeps the
        // arithmetic inside u128.
        let digits = &frac_part[..frac_part.len().min(18)];
        let numerator: u128 = digits.parse().ok()?;
        let denominator = 10u128.pow(digits.len() as u32);
        total = total.checked_add(numerator * factor / denominator)?;
    }
    Some(total)
}

/// A size in bytes, written in config as `"64KiB"`, `"10MiB"`, `"1GB"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// `n` KiB (1024 bytes each).
    pub const fn kib(n: u64) -> Self {
        Self(n << 10)
    }
    /// `n` MiB.
    pub const fn mib(n: u64) -> Self {
        Self(n << 20)
    }
    /// The number of bytes.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
    /// The number of bytes as `usize` (saturating on 32-bit targets).
    pub fn as_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_size(self.0))
    }
}

impl std::str::FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_size(s).map(ByteSize)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size string such as \"64KiB\" or \"10MiB\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                parse_size(v).map(ByteSize).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                Err(E::custom(format!(
                    "invalid size {v}: write it as a string with a unit, e.g. \"{v}B\" or \"64KiB\""
                )))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_size(self.0))
    }
}

/// A duration as it appears in config; used through the `serde(with = ...)` adapters below so
/// the model's fields stay plain [`std::time::Duration`].
struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration string such as \"250ms\", \"15s\" or \"5m\"")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse_duration(v).map_err(E::custom)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "invalid duration {v}: write it as a string with a unit, e.g. \"{v}s\" or \"{v}ms\""
        )))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        self.visit_i64(v as i64)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "invalid duration {v}: write it as a string with a unit, e.g. \"{v}s\""
        )))
    }
}

/// A `Duration` newtype with config (de)serialization, for places where a `serde(with)` adapter
/// does not fit (collections, tuples).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurationVisitor).map(Dur)
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

/// `#[serde(with = "units::duration")]` for a `Duration` field.
pub mod duration {
    use super::*;
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(DurationVisitor)
    }
    pub fn serialize<S: Serializer>(v: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*v))
    }
}

/// `#[serde(with = "units::opt_duration", default)]` for an `Option<Duration>` field.
pub mod opt_duration {
    use super::*;
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<Dur>::deserialize(d).map(|o| o.map(|d| d.0))
    }
    pub fn serialize<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        v.map(Dur).serialize(s)
    }
}

/// `#[serde(with = "units::duration_vec")]` for a `Vec<Duration>` field.
pub mod duration_vec {
    use super::*;
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        Vec::<Dur>::deserialize(d).map(|v| v.into_iter().map(|d| d.0).collect())
    }
    pub fn serialize<S: Serializer>(v: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|d| Dur(*d)))
    }
}

/// `#[serde(with = "units::duration_pair")]` for a `[Duration; 2]` field (a jitter window).
pub mod duration_pair {
    use super::*;
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[Duration; 2], D::Error> {
        let v = Vec::<Dur>::deserialize(d)?;
        match v.as_slice() {
            [a, b] => Ok([a.0, b.0]),
            _ => Err(de::Error::custom(format!(
                "expected two durations [\"min\", \"max\"], found {}",
                v.len()
            ))),
        }
    }
    pub fn serialize<S: Serializer>(v: &[Duration; 2], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|d| Dur(*d)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        for (text, want) in [
            ("250ms", ms(250)),
            ("15s", s(15)),
            ("5m", s(300)),
            ("1h", s(3600)),
            ("30d", s(30 * 86_400)),
            ("1.5s", ms(1500)),
            ("0.1s", ms(100)),
            ("0s", s(0)),
            (" 15 s ", s(15)),
            (".5s", ms(500)),
        ] {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
        for bad in [
            "",
            "15",
            "15 parsecs",
            "s",
            "-1s",
            "1..5s",
            "1.5.5s",
            "15S",
            "1e3s",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(
                err.contains("expected a number followed by ms, s, m, h or d"),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            parse_duration("15 parsecs").unwrap_err(),
            "invalid duration \"15 parsecs\": expected a number followed by ms, s, m, h or d"
        );
        assert!(parse_duration("99999999999999999999999d").is_err());
    }

    #[test]
    fn sizes() {
        for (text, want) in [
            ("64KiB", 65_536),
            ("10MiB", 10 * 1024 * 1024),
            ("2GiB", 2u64 << 30),
            ("1KB", 1000),
            ("1kB", 1000),
            ("10MB", 10_000_000),
            ("2GB", 2_000_000_000),
            ("512B", 512),
            ("0.5KiB", 512),
            ("1 TiB", 1u64 << 40),
        ] {
            assert_eq!(parse_size(text), Ok(want), "{text}");
        }
        for bad in ["", "64", "64 kibibytes", "KiB", "-1KiB", "64kib"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert!(parse_size("99999999999TiB").is_err());
    }

    #[test]
    fn formatting() {
        assert_eq!(format_duration(Duration::from_secs(30)), "30s");
        assert_eq!(format_duration(Duration::from_secs(900)), "15m");
        assert_eq!(format_duration(Duration::from_secs(86_400)), "1d");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_size(65_536), "64KiB");
        assert_eq!(format_size(1000), "1000B");
        assert_eq!(format_size(0), "0B");
    }
}
