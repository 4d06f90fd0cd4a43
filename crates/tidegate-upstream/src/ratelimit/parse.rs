//! Pure parsers for every rate-limit wire form tidegate understands.
//!
//! Each function takes header *values* (already joined when a field spans several lines) and,
//! where absolute times are involved, a `now` supplied by the caller: no clock is read here, so
//! every parser is deterministic, property-tested (`tests/it/props.rs`) and fuzzed
//! (`fuzz/fuzz_targets/ratelimit_headers.rs`). Malformed input yields `None` / nothing — the
//! RateLimit draft tells clients to ignore malformed fields, and so do we — never a panic.
//!
//! Rounding always goes the conservative way: delays and resets round *up*, remaining counts
//! are taken as given (never rounded up). Delays are clamped to [`MAX_DELAY_SECS`].

use std::{
    borrow::Cow,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use super::{Limit, MAX_DELAY_SECS};

/// The policy name used when a wire form has none (drafts -00…-07, vendor triples).
pub const DEFAULT_POLICY: &str = "default";

// ---------------------------------------------------------------------------------------------
// Numbers, delays and times
// ---------------------------------------------------------------------------------------------

/// A non-negative integer (surrounding whitespace allowed). Digits beyond `u64` saturate.
pub fn non_negative_integer(value: &str) -> Option<u64> {
    let v = value.trim();
    if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(v.bytes().fold(0u64, |acc, b| {
        acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

/// `delay-seconds` as found in the wild: an integer, or a decimal such as Shopify's `2.0`,
/// rounded **up** to whole seconds and clamped to [`MAX_DELAY_SECS`].
pub fn delay_seconds(value: &str) -> Option<u64> {
    let v = value.trim();
    let (int, frac) = match v.split_once('.') {
        Some((i, f)) => (i, f),
        None => (v, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let whole = if int.is_empty() {
        0
    } else {
        non_negative_integer(int)?
    };
    if !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 64 {
        return None;
    }
    let round_up = frac.bytes().any(|b| b != b'0');
    Some(
        whole
            .saturating_add(u64::from(round_up))
            .min(MAX_DELAY_SECS),
    )
}

/// Whole seconds from `now` until `at`, rounded up; 0 when `at` is past; clamped.
pub fn secs_until(at: SystemTime, now: SystemTime) -> u64 {
    match at.duration_since(now) {
        Ok(d) => ceil_secs(d).min(MAX_DELAY_SECS),
        Err(_) => 0,
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0))
}

/// `Retry-After` (RFC 9110 §10.2.3): delay-seconds (decimals rounded up) or an HTTP-date in
/// any of the three forms recipients must accept (IMF-fixdate, obsolete RFC 850, asctime).
pub fn retry_after(value: &str, now: SystemTime) -> Option<u64> {
    let v = value.trim();
    if let Some(secs) = delay_seconds(v) {
        return Some(secs);
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(secs_until(at, now))
}

/// Seconds until an epoch time given in `unit_per_sec` units per second (1 = seconds,
/// 1000 = milliseconds). Decimal epochs are accepted; the fraction only ever rounds the wait up.
fn epoch_reset(value: &str, units_per_sec: u64, now: SystemTime) -> Option<u64> {
    let v = value.trim();
    let int = v.split_once('.').map_or(v, |(i, f)| {
        if f.bytes().all(|b| b.is_ascii_digit()) {
            i
        } else {
            "x"
        }
    });
    let n = non_negative_integer(int)?;
    let round_up = v.contains('.')
        && v.bytes()
            .skip_while(|b| *b != b'.')
            .skip(1)
            .any(|b| b != b'0');
    let at = UNIX_EPOCH
        .checked_add(Duration::from_secs(n / units_per_sec))
        .and_then(|t| {
            t.checked_add(Duration::from_nanos(
                (n % units_per_sec) * (1_000_000_000 / units_per_sec),
            ))
        })
        .and_then(|t| t.checked_add(Duration::from_nanos(u64::from(round_up))));
    match at {
        Some(at) => Some(secs_until(at, now)),
        // Beyond SystemTime's range: as far in the future as we report.
        None => Some(MAX_DELAY_SECS),
    }
}

/// Seconds until an epoch-seconds time (GitHub, Intercom `X-RateLimit-Reset`).
pub fn epoch_seconds_reset(value: &str, now: SystemTime) -> Option<u64> {
    epoch_reset(value, 1, now)
}

/// Seconds until an epoch-milliseconds time.
pub fn epoch_millis_reset(value: &str, now: SystemTime) -> Option<u64> {
    epoch_reset(value, 1000, now)
}

/// A delta in milliseconds, as whole seconds rounded up (clamped).
pub fn millis_delay(value: &str) -> Option<u64> {
    let ms = non_negative_integer(value)?;
    Some((ms / 1000 + u64::from(ms % 1000 != 0)).min(MAX_DELAY_SECS))
}

/// An ISO 8601 / RFC 3339 timestamp as vendors write it, e.g. Jira's `2024-06-01T12:30Z`
/// (minutes only), `2024-06-01T12:30:05.250+02:00`, `2024-06-01T12:30:05+0000`. A missing
/// offset means UTC.
pub fn iso8601(value: &str) -> Option<SystemTime> {
    let v = value.trim().as_bytes();
    let num = |s: &[u8]| -> Option<u32> {
        if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(s).ok()?.parse().ok()
    };
    if v.len() < 16 || v[4] != b'-' || v[7] != b'-' || !matches!(v[10], b'T' | b't' | b' ') {
        return None;
    }
    let year = i32::try_from(num(&v[0..4])?).ok()?;
    let month = u8::try_from(num(&v[5..7])?).ok()?;
    let day = u8::try_from(num(&v[8..10])?).ok()?;
    let hour = u8::try_from(num(&v[11..13])?).ok()?;
    if v[13] != b':' {
        return None;
    }
    let minute = u8::try_from(num(&v[14..16])?).ok()?;
    let mut rest = &v[16..];
    let mut second = 0u8;
    let mut nanos = 0u32;
    if let [b':', a, b, tail @ ..] = rest {
        second = u8::try_from(num(&[*a, *b])?).ok()?;
        rest = tail;
        if let [b'.' | b',', tail @ ..] = rest {
            let digits = tail.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 {
                return None;
            }
            let frac = &tail[..digits.min(9)];
            let scale = 10u32.pow(9 - frac.len() as u32);
            nanos = num(frac)? * scale;
            rest = &tail[digits..];
        }
    }
    let offset_secs: i64 = match rest {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), tail @ ..] => {
            let (h, m) = match tail {
                [h1, h2] => (num(&[*h1, *h2])?, 0),
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => (num(&[*h1, *h2])?, num(&[*m1, *m2])?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let s = i64::from(h * 3600 + m * 60);
            if *sign == b'-' { -s } else { s }
        }
        _ => return None,
    };
    let date =
        time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()?;
    let clock = time::Time::from_hms_nano(hour, minute, second.min(59), nanos).ok()?;
    let utc = time::PrimitiveDateTime::new(date, clock).assume_utc();
    let unix_nanos = utc.unix_timestamp_nanos() - i128::from(offset_secs) * 1_000_000_000;
    if unix_nanos < 0 {
        return Some(UNIX_EPOCH);
    }
    let unix_nanos = u64::try_from(unix_nanos).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_nanos(unix_nanos))
}

/// Seconds until an ISO 8601 timestamp (Jira `X-RateLimit-Reset`).
pub fn iso8601_reset(value: &str, now: SystemTime) -> Option<u64> {
    Some(secs_until(iso8601(value)?, now))
}

/// Seconds until an HTTP-date.
pub fn http_date_reset(value: &str, now: SystemTime) -> Option<u64> {
    Some(secs_until(
        httpdate::parse_http_date(value.trim()).ok()?,
        now,
    ))
}

/// A reset whose unit is not declared: an ISO timestamp or HTTP-date by its shape; a number
/// ≥ 10¹² as epoch milliseconds, ≥ 10⁹ as epoch seconds (no real window lasts 31 years), and
/// anything smaller as delta-seconds.
pub fn auto_reset(value: &str, now: SystemTime) -> Option<u64> {
    let v = value.trim();
    if v.len() >= 16 && v.as_bytes().get(4) == Some(&b'-') {
        return iso8601_reset(v, now);
    }
    if v.contains(',') || v.ends_with("GMT") {
        return http_date_reset(v, now);
    }
    let int = v.split_once('.').map_or(v, |(i, _)| i);
    let n = non_negative_integer(int)?;
    if n >= 1_000_000_000_000 {
        epoch_millis_reset(v, now)
    } else if n >= 1_000_000_000 {
        epoch_seconds_reset(v, now)
    } else {
        delay_seconds(v)
    }
}

// ---------------------------------------------------------------------------------------------
// Vendor forms
// ---------------------------------------------------------------------------------------------

/// Shopify's `X-Shopify-Shop-Api-Call-Limit: 32/40` → `(used, limit)`.
pub fn used_of_limit(value: &str) -> Option<(u64, u64)> {
    let (used, limit) = value.trim().split_once('/')?;
    Some((non_negative_integer(used)?, non_negative_integer(limit)?))
}

/// Salesforce's `Sforce-Limit-Info: api-usage=18/5000; per-app-api-usage=17/250(appName=x)`:
/// one [`Limit`] per `key=used/limit` member (names are the keys), windowless (the caller's
/// mapping knows the window). Members that do not parse are skipped.
pub fn sforce_limit_info(value: &str) -> Vec<Limit> {
    value
        .split([';', ','])
        .filter_map(|member| {
            let (key, usage) = member.trim().split_once('=')?;
            let key = key.trim();
            if key.is_empty()
                || !key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return None;
            }
            // Strip a trailing "(appName=...)" annotation.
            let usage = usage.split_once('(').map_or(usage, |(u, _)| u);
            let (used, limit) = used_of_limit(usage)?;
            Some(Limit::new(key, limit, limit.saturating_sub(used)))
        })
        .collect()
}

/// Zendesk's per-endpoint `zendesk-ratelimit-tickets-index: total=100; remaining=99; resets=41`
/// → `(total, remaining, resets_secs)`.
pub fn zendesk_endpoint(value: &str) -> Option<(u64, u64, Option<u64>)> {
    let (mut total, mut remaining, mut resets) = (None, None, None);
    for member in value.split([';', ',']) {
        let Some((k, v)) = member.trim().split_once('=') else {
            continue;
        };
        match k.trim() {
            "total" => total = non_negative_integer(v),
            "remaining" => remaining = non_negative_integer(v),
            "resets" => resets = delay_seconds(v),
            _ => {}
        }
    }
    Some((total?, remaining?, resets))
}

// ---------------------------------------------------------------------------------------------
// Structured fields (RFC 9651), just enough for the RateLimit drafts
// ---------------------------------------------------------------------------------------------

/// A bare item of a structured field, borrowing from the header value (no allocation unless a
/// String contains escapes).
#[derive(Clone, Debug, PartialEq)]
pub enum SfItem<'a> {
    /// An Integer (negative values are kept so that they can be rejected by the caller).
    Integer(i64),
    /// A Decimal.
    Decimal(f64),
    /// A String.
    String(Cow<'a, str>),
    /// A Token.
    Token(&'a str),
    /// A Byte Sequence (contents not decoded: tidegate never needs partition keys).
    Bytes,
    /// A Boolean.
    Boolean(bool),
    /// An Inner List (contents skipped).
    InnerList,
}

/// A list member or dictionary member: its key (dictionaries only), value and parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct SfMember<'a> {
    /// The dictionary key; `None` in a list.
    pub key: Option<&'a str>,
    /// The item.
    pub item: SfItem<'a>,
    /// Its parameters, in order.
    pub params: Vec<(&'a str, SfItem<'a>)>,
}

impl SfMember<'_> {
    /// The parameter named `name`.
    pub fn param(&self, name: &str) -> Option<&SfItem<'_>> {
        self.params.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// A non-negative integer parameter.
    pub fn uint_param(&self, name: &str) -> Option<u64> {
        match self.param(name)? {
            SfItem::Integer(i) => u64::try_from(*i).ok(),
            _ => None,
        }
    }
}

/// Parses RFC 9651 Lists and Dictionaries. Only ASCII bytes are ever consumed outside Strings,
/// so every slice taken falls on a `char` boundary.
struct SfParser<'a> {
    text: &'a str,
    input: &'a [u8],
    pos: usize,
}

impl<'a> SfParser<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            input: text.as_bytes(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// `key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )`.
    fn key(&mut self) -> Option<&'a str> {
        let start = self.pos;
        match self.peek()? {
            b'a'..=b'z' | b'*' => self.pos += 1,
            _ => return None,
        }
        while matches!(
            self.peek(),
            Some(b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*')
        ) {
            self.pos += 1;
        }
        Some(&self.text[start..self.pos])
    }

    fn bare_item(&mut self) -> Option<SfItem<'a>> {
        match self.peek()? {
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => self.number(),
            b':' => {
                self.pos += 1;
                while let Some(b) = self.peek() {
                    self.pos += 1;
                    if b == b':' {
                        return Some(SfItem::Bytes);
                    }
                    if !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')) {
                        return None;
                    }
                }
                None
            }
            b'?' => {
                self.pos += 1;
                let b = self.peek()?;
                self.pos += 1;
                match b {
                    b'0' => Some(SfItem::Boolean(false)),
                    b'1' => Some(SfItem::Boolean(true)),
                    _ => None,
                }
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'*' => {
                let start = self.pos;
                self.pos += 1;
                while let Some(b) = self.peek() {
                    let tchar = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&b);
                    if !tchar {
                        break;
                    }
                    self.pos += 1;
                }
                Some(SfItem::Token(&self.text[start..self.pos]))
            }
            _ => None,
        }
    }

    fn string(&mut self) -> Option<SfItem<'a>> {
        self.pos += 1; // opening quote
        let start = self.pos;
        let mut owned: Option<String> = None;
        loop {
            let b = self.peek()?;
            match b {
                b'"' => {
                    let value = match owned {
                        Some(s) => Cow::Owned(s),
                        None => Cow::Borrowed(&self.text[start..self.pos]),
                    };
                    self.pos += 1;
                    return Some(SfItem::String(value));
                }
                b'\\' => {
                    let e = *self.input.get(self.pos + 1)?;
                    if e != b'"' && e != b'\\' {
                        return None;
                    }
                    owned
                        .get_or_insert_with(|| self.text[start..self.pos].to_owned())
                        .push(char::from(e));
                    self.pos += 2;
                }
                0x20..=0x7e => {
                    if let Some(s) = owned.as_mut() {
                        s.push(char::from(b));
                    }
                    self.pos += 1;
                }
                _ => return None,
            }
        }
    }

    fn number(&mut self) -> Option<SfItem<'a>> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        let int_len = self.pos - int_start;
        if int_len == 0 || int_len > 15 {
            return None;
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            let frac_start = self.pos;
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
            let frac_len = self.pos - frac_start;
            if frac_len == 0 || frac_len > 3 || int_len > 12 {
                return None;
            }
            return self.text[start..self.pos].parse().ok().map(SfItem::Decimal);
        }
        self.text[start..self.pos].parse().ok().map(SfItem::Integer)
    }

    fn inner_list(&mut self) -> Option<SfItem<'a>> {
        self.pos += 1; // '('
        loop {
            while matches!(self.peek(), Some(b' ')) {
                self.pos += 1;
            }
            if self.peek()? == b')' {
                self.pos += 1;
                return Some(SfItem::InnerList);
            }
            self.bare_item()?;
            self.params()?;
            match self.peek()? {
                b' ' | b')' => {}
                _ => return None,
            }
        }
    }

    fn item_or_inner_list(&mut self) -> Option<SfItem<'a>> {
        if self.peek()? == b'(' {
            self.inner_list()
        } else {
            self.bare_item()
        }
    }

    fn params(&mut self) -> Option<Vec<(&'a str, SfItem<'a>)>> {
        let mut params: Vec<(&'a str, SfItem<'a>)> = Vec::new();
        while self.peek() == Some(b';') {
            self.pos += 1;
            while matches!(self.peek(), Some(b' ')) {
                self.pos += 1;
            }
            let key = self.key()?;
            let value = if self.peek() == Some(b'=') {
                self.pos += 1;
                self.bare_item()?
            } else {
                SfItem::Boolean(true)
            };
            match params.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => params.push((key, value)),
            }
        }
        Some(params)
    }

    /// Parses a whole List (or, with `dictionary`, a Dictionary).
    fn members(&mut self, dictionary: bool) -> Option<Vec<SfMember<'a>>> {
        let mut out = Vec::new();
        self.skip_ows();
        if self.pos == self.input.len() {
            return Some(out);
        }
        loop {
            if out.len() >= 64 {
                return None; // no real upstream sends more; bounds work on hostile input
            }
            let member = if dictionary {
                let key = self.key()?;
                let item = if self.peek() == Some(b'=') {
                    self.pos += 1;
                    self.item_or_inner_list()?
                } else {
                    SfItem::Boolean(true)
                };
                SfMember {
                    key: Some(key),
                    item,
                    params: self.params()?,
                }
            } else {
                let item = self.item_or_inner_list()?;
                SfMember {
                    key: None,
                    item,
                    params: self.params()?,
                }
            };
            out.push(member);
            self.skip_ows();
            match self.peek() {
                None => return Some(out),
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ows();
                    self.peek()?; // a trailing comma is malformed
                }
                Some(_) => return None,
            }
        }
    }
}

/// Parses a structured-field List; `None` when malformed.
pub fn sf_list(value: &str) -> Option<Vec<SfMember<'_>>> {
    SfParser::new(value).members(false)
}

/// Parses a structured-field Dictionary; `None` when malformed.
pub fn sf_dictionary(value: &str) -> Option<Vec<SfMember<'_>>> {
    SfParser::new(value).members(true)
}

fn item_name<'b>(item: &'b SfItem<'_>) -> Option<&'b str> {
    match item {
        SfItem::String(s) => Some(s),
        SfItem::Token(s) => Some(s),
        _ => None,
    }
}

fn uint(item: &SfItem<'_>) -> Option<u64> {
    match item {
        SfItem::Integer(i) => u64::try_from(*i).ok(),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// IETF draft forms
// ---------------------------------------------------------------------------------------------

/// Drafts -08…-10 (and -11): `RateLimit-Policy: "burst";q=100;w=60` + `RateLimit: "burst";r=50;t=30`.
///
/// One [`Limit`] per `RateLimit` item whose name is a String (or Token, leniently) with an `r`
/// parameter. Its quota and window come from the policy of the same name; without one, the
/// quota is taken to be the remaining count (a lower bound). Returns `None` when the fields are
/// not in this form (e.g. a -07 dictionary), so the caller can try the older forms.
pub fn ietf_structured(ratelimit: &str, policy: Option<&str>) -> Option<Vec<Limit>> {
    let items = sf_list(ratelimit)?;
    if items.is_empty()
        || !items
            .iter()
            .all(|m| matches!(m.item, SfItem::String(_) | SfItem::Token(_)))
    {
        return None;
    }
    let policies = policy.and_then(sf_list).unwrap_or_default();
    let limits = items
        .iter()
        .filter_map(|m| {
            let name = item_name(&m.item)?;
            let remaining = m.uint_param("r")?;
            let reset = m.uint_param("t").map(|t| t.min(MAX_DELAY_SECS));
            let policy = policies.iter().find(|p| item_name(&p.item) == Some(name));
            let quota = policy.and_then(|p| p.uint_param("q")).unwrap_or(remaining);
            let window = policy.and_then(|p| p.uint_param("w"));
            Some(
                Limit::new(name, quota, remaining)
                    .with_reset(reset)
                    .with_window(window),
            )
        })
        .collect();
    Some(limits)
}

/// Draft -07: the single Dictionary `RateLimit: limit=100, remaining=50, reset=5`, with an
/// optional `RateLimit-Policy: 100;w=10` giving the window.
pub fn ietf_draft07(ratelimit: &str, policy: Option<&str>) -> Option<Limit> {
    let dict = sf_dictionary(ratelimit)?;
    let get = |k: &str| {
        dict.iter()
            .find(|m| m.key == Some(k))
            .and_then(|m| uint(&m.item))
    };
    let remaining = get("remaining")?;
    let quota = get("limit").unwrap_or(remaining);
    let reset = get("reset");
    let window = policy.and_then(|p| policy_window(p, quota));
    Some(
        Limit::new(DEFAULT_POLICY, quota, remaining)
            .with_reset(reset)
            .with_window(window),
    )
}

/// The window (`w`) of the old-draft policy item whose quota equals `quota`, else of the first
/// item that has one. Old-draft policies look like `10;w=1, 50;w=60`.
fn policy_window(policy: &str, quota: u64) -> Option<u64> {
    let items = sf_list(policy)?;
    items
        .iter()
        .find(|m| uint(&m.item) == Some(quota) && m.uint_param("w").is_some())
        .or_else(|| items.iter().find(|m| m.uint_param("w").is_some()))
        .and_then(|m| m.uint_param("w"))
}

/// Drafts -00…-06 (and Zendesk, SharePoint): `RateLimit-Limit`, `RateLimit-Remaining`,
/// `RateLimit-Reset` (delay-seconds), with `RateLimit-Limit` either a plain Integer or a List
/// whose first member is the current quota (`10, 10;w=1, 50;w=60`), and an optional
/// `RateLimit-Policy: 10;w=1, 50;w=60`.
pub fn ietf_triple(
    limit: Option<&str>,
    remaining: &str,
    reset: Option<&str>,
    policy: Option<&str>,
) -> Option<Limit> {
    let remaining = non_negative_integer(remaining)?;
    let (quota, mut window) = match limit {
        Some(l) => match non_negative_integer(l) {
            Some(q) => (q, None),
            None => {
                let items = sf_list(l)?;
                let first = items.first()?;
                let q = uint(&first.item)?;
                let w = first.uint_param("w").or_else(|| {
                    items
                        .iter()
                        .skip(1)
                        .find(|m| uint(&m.item) == Some(q))
                        .and_then(|m| m.uint_param("w"))
                });
                (q, w)
            }
        },
        None => (remaining, None),
    };
    if window.is_none() {
        window = policy.and_then(|p| policy_window(p, quota));
    }
    let reset = reset.and_then(delay_seconds);
    Some(
        Limit::new(DEFAULT_POLICY, quota, remaining)
            .with_reset(reset)
            .with_window(window),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_655_120_900)
    }

    #[test]
    fn retry_after_forms() {
        let n = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(retry_after("120", n), Some(120));
        assert_eq!(retry_after(" 2.0 ", n), Some(2));
        assert_eq!(retry_after("2.01", n), Some(3));
        assert_eq!(retry_after("0.5", n), Some(1));
        assert_eq!(retry_after("Sun, 06 Nov 1994 08:50:37 GMT", n), Some(60));
        assert_eq!(retry_after("Sunday, 06-Nov-94 08:50:37 GMT", n), Some(60));
        assert_eq!(retry_after("Sun Nov  6 08:50:37 1994", n), Some(60));
        assert_eq!(
            retry_after("Fri, 31 Dec 1999 23:59:59 GMT", n),
            Some(MAX_DELAY_SECS)
        );
        assert_eq!(retry_after("Sat, 05 Nov 1994 08:49:37 GMT", n), Some(0));
        assert_eq!(
            retry_after("99999999999999999999999", n),
            Some(MAX_DELAY_SECS)
        );
        assert_eq!(retry_after("-1", n), None);
        assert_eq!(retry_after("soon", n), None);
        assert_eq!(retry_after("", n), None);
        assert_eq!(retry_after("1e3", n), None);
    }

    #[test]
    fn epoch_and_iso_resets() {
        assert_eq!(epoch_seconds_reset("1655120964", now()), Some(64));
        assert_eq!(epoch_seconds_reset("1655120000", now()), Some(0));
        assert_eq!(epoch_millis_reset("1655120900500", now()), Some(1));
        assert_eq!(iso8601_reset("2022-06-13T11:49Z", now()), Some(40));
        assert_eq!(iso8601_reset("2022-06-13T13:49:20+02:00", now()), Some(60));
        assert_eq!(iso8601_reset("2022-06-13T11:49:20.001Z", now()), Some(61));
        assert_eq!(iso8601_reset("2022-06-13T11:49:20+0000", now()), Some(60));
        assert_eq!(iso8601_reset("2022-13-13T11:49Z", now()), None);
        assert_eq!(iso8601_reset("not a date at all!", now()), None);
        assert_eq!(auto_reset("1655120964", now()), Some(64));
        assert_eq!(auto_reset("30", now()), Some(30));
        assert_eq!(auto_reset("2022-06-13T11:49Z", now()), Some(40));
        assert_eq!(millis_delay("10000"), Some(10));
        assert_eq!(millis_delay("1"), Some(1));
    }

    #[test]
    fn vendor_forms() {
        assert_eq!(used_of_limit("32/40"), Some((32, 40)));
        assert_eq!(used_of_limit("32/"), None);
        let sf =
            sforce_limit_info("api-usage=18/5000; per-app-api-usage=17/250(appName=sample-app)");
        assert_eq!(
            sf,
            vec![
                Limit::new("api-usage", 5000, 4982),
                Limit::new("per-app-api-usage", 250, 233)
            ]
        );
        let sf = sforce_limit_info("api-usage=10018/100000; api-bursts=1/750");
        assert_eq!(sf.len(), 2);
        assert_eq!(sf[1], Limit::new("api-bursts", 750, 749));
        assert_eq!(
            zendesk_endpoint("total=100; remaining=99; resets=41"),
            Some((100, 99, Some(41)))
        );
    }

    #[test]
    fn structured_examples_from_draft_10() {
        let limits = ietf_structured(
            r#""burst";r=50;t=30, "daily";r=999"#,
            Some(r#""burst";q=100;w=60,"daily";q=1000;w=86400"#),
        )
        .unwrap();
        assert_eq!(
            limits[0],
            Limit::new("burst", 100, 50)
                .with_reset(Some(30))
                .with_window(Some(60))
        );
        assert_eq!(
            limits[1],
            Limit::new("daily", 1000, 999).with_window(Some(86400))
        );
        let limits = ietf_structured(
            r#""default";r=999;pk=:dHJpYWwxMjEzMjM=:"#,
            Some(r#""peruser";q=65535;qu="content-bytes";w=10;pk=:sdfjLJUOUH==:"#),
        )
        .unwrap();
        assert_eq!(limits, vec![Limit::new("default", 999, 999)]);
        assert!(ietf_structured("limit=100, remaining=50, reset=5", None).is_none());
    }

    #[test]
    fn old_draft_examples() {
        let l = ietf_draft07("limit=100, remaining=50, reset=5", Some("100;w=10")).unwrap();
        assert_eq!(
            l,
            Limit::new("default", 100, 50)
                .with_reset(Some(5))
                .with_window(Some(10))
        );
        let l = ietf_triple(Some("10, 10;w=1, 50;w=60"), "9", Some("1"), None).unwrap();
        assert_eq!(
            l,
            Limit::new("default", 10, 9)
                .with_reset(Some(1))
                .with_window(Some(1))
        );
        let l = ietf_triple(Some("10"), "9", Some("1"), Some("10;w=1, 50;w=60")).unwrap();
        assert_eq!(l.window_secs, Some(1));
        let l = ietf_triple(Some("700"), "699", Some("41"), None).unwrap();
        assert_eq!(l, Limit::new("default", 700, 699).with_reset(Some(41)));
    }

    #[test]
    fn malformed_structured_fields_are_ignored() {
        for bad in [
            r#""a";r=1,"#,
            r#""a;r=1"#,
            "\"a\";r=1;t=\u{7f}",
            ",",
            r#""x";r=-1"#,
        ] {
            let parsed = ietf_structured(bad, None);
            assert!(parsed.is_none_or(|l| l.is_empty()), "{bad}");
        }
    }
}
