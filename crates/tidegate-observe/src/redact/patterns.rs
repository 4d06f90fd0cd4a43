//! Value scanners: find the spans of a string that look like personal data or credentials.
//!
//! Hand-written single-pass scanners rather than regular expressions: they cost one walk over
//! the bytes, allocate only when something is found, and add no dependency. Every pattern is
//! ASCII, so every span starts and ends on a UTF-8 character boundary.
//!
//! False positives (a 16-digit id that happens to pass the Luhn check) are accepted: a log
//! line with one id too many redacted is cheap, a leaked card number is not.

use std::{borrow::Cow, ops::Range};

/// What a redacted value is replaced with, everywhere.
pub const REDACTED: &str = "[REDACTED]";

/// Prefixes of well-known vendor secrets (Stripe, Standard Webhooks, GitHub, Slack).
const SECRET_PREFIXES: &[&str] = &[
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "rk_test_",
    "whsec_",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "xoxb-",
    "xoxp-",
    "xoxa-",
    "xoxr-",
    "xapp-",
];

/// `s` with every sensitive-looking span replaced by [`REDACTED`]; borrowed when nothing matched.
pub fn redact_text(s: &str) -> Cow<'_, str> {
    let spans = sensitive_spans(s);
    if spans.is_empty() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for span in spans {
        out.push_str(&s[last..span.start]);
        out.push_str(REDACTED);
        last = span.end;
    }
    out.push_str(&s[last..]);
    Cow::Owned(out)
}

/// Whether `s` contains anything [`redact_text`] would replace.
pub fn looks_sensitive(s: &str) -> bool {
    !sensitive_spans(s).is_empty()
}

/// Whether an integer (a JSON number) looks like a card number.
pub fn number_looks_like_card(n: u64) -> bool {
    let digits = n.to_string();
    (13..=19).contains(&digits.len()) && luhn_valid(digits.bytes().map(|b| b - b'0'))
}

/// What a byte can be to the scanner of [`sensitive_spans`] (one table lookup per byte).
const WORD: u8 = 1; // alphanumeric, `_` or `-`: the byte after one is not at a word start
const ALNUM: u8 = 2; // alphanumeric: a digit after one does not start a digit run
const DIGIT: u8 = 4;
const STARTS: u8 = 8; // may open a token at a word start: `b`/`B` (bearer, basic), `e` (JWT), a secret prefix
const AT: u8 = 16;
const HEX: u8 = 32; // `0-9a-fA-F` (for the UUID check)

const CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        if b.is_ascii_alphanumeric() {
            table[c] |= WORD | ALNUM;
        }
        if b == b'_' || b == b'-' {
            table[c] |= WORD;
        }
        if b.is_ascii_digit() {
            table[c] |= DIGIT;
        }
        if b == b'b' || b == b'B' || b == b'e' || PREFIX_FIRST_BYTES[c] {
            table[c] |= STARTS;
        }
        if b == b'@' {
            table[c] |= AT;
        }
        if b.is_ascii_hexdigit() {
            table[c] |= HEX;
        }
        c += 1;
    }
    table
};

/// The sorted, non-overlapping spans of `s` to redact.
///
/// Header values (request ids, dates, content types) go through here on every logged exchange,
/// so the walk looks each byte up once and calls a pattern only where one can start.
fn sensitive_spans(s: &str) -> Vec<Range<usize>> {
    let b = s.as_bytes();
    let mut spans = Vec::new();
    if is_uuid_without_card_runs(b) {
        return spans;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let class = CLASS[usize::from(c)];
        if class & (AT | DIGIT | STARTS) != 0 {
            let prev = if i == 0 {
                0
            } else {
                CLASS[usize::from(b[i - 1])]
            };
            let found = if class & AT != 0 {
                email_at(b, i)
            } else if class & DIGIT != 0 {
                if prev & ALNUM == 0 {
                    digits_at(b, i)
                } else {
                    None
                }
            } else if prev & WORD != 0 {
                None // not at a word start
            } else if c == b'b' || c == b'B' {
                scheme_token_at(b, i, b"bearer").or_else(|| scheme_token_at(b, i, b"basic"))
            } else if c == b'e' {
                jwt_at(b, i)
            } else {
                prefixed_secret_at(b, i)
            };
            if let Some(span) = found {
                push_merged(&mut spans, span.clone());
                i = span.end.max(i + 1);
                continue;
            }
        }
        i += 1;
        if class & ALNUM != 0 {
            // After an alphanumeric byte nothing can start until the word ends: a digit run
            // needs a non-alphanumeric byte before it, a token a word start, and `@` is not
            // alphanumeric. Skip to the end of the word.
            while i < b.len() && CLASS[usize::from(b[i])] & ALNUM != 0 {
                i += 1;
            }
        }
    }
    spans
}

/// Whether `b` is a UUID (`8-4-4-4-12` hex digits, either case) in which no two adjacent
/// groups are all decimal digits: then nothing in it can match, and the scan is skipped.
///
/// UUIDs are the most common header values a boundary log sees (request, correlation and
/// trace ids, idempotency keys), and the general scan costs ~15 instructions per byte on
/// one. Why nothing can match: there is no `@` (email), no space (bearer/basic), no
/// `eyJ` (JWT), no `_` and no letter past `f` (every vendor prefix has one). A digit run can
/// start only at a group start, and stops being a candidate at a letter glued to it; so its
/// digits are whole all-digit groups, and with no two of them adjacent it has at most 12
/// digits (too few for a card), and it never has a 3-digit first group (no SSN). Two
/// adjacent all-digit groups (`…-1234-123456789012`) take the general scan. The oracle
/// proptest below checks this against the scanner on UUID-shaped strings.
fn is_uuid_without_card_runs(b: &[u8]) -> bool {
    const GROUPS: [std::ops::Range<usize>; 5] = [0..8, 9..13, 14..18, 19..23, 24..36];
    if b.len() != 36 || b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return false;
    }
    // Group by group (measured: ~170 instructions on a UUID; a single byte-by-byte walk with
    // a dash bitmask, tried for its shorter code, took ~370).
    let mut previous_all_digits = false;
    for group in GROUPS {
        // One table lookup per byte: what every byte of the group is.
        let every = b[group]
            .iter()
            .fold(HEX | DIGIT, |every, &c| every & CLASS[usize::from(c)]);
        let all_digits = every & DIGIT != 0;
        if every & HEX == 0 || (all_digits && previous_all_digits) {
            return false;
        }
        previous_all_digits = all_digits;
    }
    true
}

fn push_merged(spans: &mut Vec<Range<usize>>, span: Range<usize>) {
    if let Some(last) = spans.last_mut()
        && span.start <= last.end
    {
        last.end = last.end.max(span.end);
        last.start = last.start.min(span.start);
        // An email span can start before the previous span ended only by growing left; merge
        // any earlier spans it now overlaps.
        while spans.len() >= 2 && spans[spans.len() - 2].end >= spans[spans.len() - 1].start {
            let top = spans.pop().expect("len >= 2");
            let prev = spans.last_mut().expect("len >= 1");
            prev.start = prev.start.min(top.start);
            prev.end = prev.end.max(top.end);
        }
        return;
    }
    spans.push(span);
}

/// Characters of opaque tokens (base64, base64url, hex, JWT segments, vendor keys).
fn is_token_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~' | b'+' | b'/' | b'=')
}

fn is_email_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-' | b'\'')
}

fn is_domain_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-')
}

/// An email address around the `@` at `at`: a non-empty local part and a dotted domain whose
/// last label has at least two letters.
fn email_at(b: &[u8], at: usize) -> Option<Range<usize>> {
    let mut start = at;
    while start > 0 && is_email_local(b[start - 1]) {
        start -= 1;
    }
    let mut end = at + 1;
    while end < b.len() && is_domain_byte(b[end]) {
        end += 1;
    }
    while end > at + 1 && matches!(b[end - 1], b'.' | b'-') {
        end -= 1;
    }
    if start == at {
        return None;
    }
    let domain = &b[at + 1..end];
    let dot = domain.iter().rposition(|&c| c == b'.')?;
    let tld = &domain[dot + 1..];
    (dot > 0 && tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic)).then_some(start..end)
}

/// A digit run starting at `start` (digits with single spaces or dashes between them): a US
/// SSN (`ddd-dd-dddd`) or a 13–19 digit number that passes the Luhn check (a card number).
///
/// Ids, versions and dates in every header value start digit runs, and nearly all of them
/// are one group of digits ended by a letter (hex ids) or by a byte that is not a separator:
/// those are settled after one walk over the group. Nothing is stored; the Luhn check reads
/// the digits again from `b` in the rare case that the shape fits.
fn digits_at(b: &[u8], start: usize) -> Option<Range<usize>> {
    let mut i = start;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let continues = i + 1 < b.len() && matches!(b[i], b' ' | b'-') && b[i + 1].is_ascii_digit();
    if !continues {
        // One group: never an SSN; a card when it is 13–19 digits not glued to a letter.
        let count = i - start;
        let glued = i < b.len() && b[i].is_ascii_alphabetic();
        let is_card =
            !glued && (13..=19).contains(&count) && luhn_valid(digit_values(&b[start..i]));
        return is_card.then_some(start..i);
    }
    // Several groups: their sizes (the first three, as far as the SSN shape needs them).
    let mut count = 0;
    let mut groups = [0usize; 3];
    let mut group = 0;
    let mut separators_are_dashes = true;
    let mut end = start;
    let mut i = start;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() {
            if count == 19 {
                return None; // a 20th digit
            }
            count += 1;
            if let Some(size) = groups.get_mut(group) {
                *size += 1;
            }
            i += 1;
            end = i;
        } else if matches!(c, b' ' | b'-') && i + 1 < b.len() && b[i + 1].is_ascii_digit() {
            separators_are_dashes &= c == b'-';
            group += 1;
            i += 1;
        } else {
            break;
        }
    }
    if end < b.len() && b[end].is_ascii_alphabetic() {
        return None;
    }
    let is_ssn = separators_are_dashes && group == 2 && groups == [3, 2, 4];
    let is_card = (13..=19).contains(&count) && luhn_valid(digit_values(&b[start..end]));
    (is_ssn || is_card).then_some(start..end)
}

/// The values of the decimal digits in `run` (its separators skipped), most significant first.
fn digit_values(run: &[u8]) -> impl DoubleEndedIterator<Item = u8> + '_ {
    run.iter().filter(|c| c.is_ascii_digit()).map(|c| c - b'0')
}

/// The Luhn checksum (ISO/IEC 7812) over decimal digits, most significant first.
fn luhn_valid(digits: impl DoubleEndedIterator<Item = u8>) -> bool {
    let sum: u32 = digits
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// `Bearer <token>` or `Basic <credentials>` (case-insensitive scheme): the token is the span.
fn scheme_token_at(b: &[u8], i: usize, scheme: &[u8]) -> Option<Range<usize>> {
    let end_scheme = i + scheme.len();
    if end_scheme >= b.len() || !b[i..end_scheme].eq_ignore_ascii_case(scheme) {
        return None;
    }
    let mut start = end_scheme;
    while start < b.len() && b[start] == b' ' {
        start += 1;
    }
    if start == end_scheme {
        return None;
    }
    let mut end = start;
    while end < b.len() && is_token_byte(b[end]) {
        end += 1;
    }
    (end > start).then_some(start..end)
}

/// A JWT: `eyJ...` base64url segments joined by two dots (the third may be empty for `alg=none`).
fn jwt_at(b: &[u8], i: usize) -> Option<Range<usize>> {
    if !b[i..].starts_with(b"eyJ") {
        return None;
    }
    let mut end = i;
    let mut dots = 0;
    let mut segment_len = 0;
    while end < b.len() {
        let c = b[end];
        if c.is_ascii_alphanumeric() || c == b'-' || c == b'_' {
            segment_len += 1;
        } else if c == b'.' && segment_len > 0 && dots < 2 {
            dots += 1;
            segment_len = 0;
        } else {
            break;
        }
        end += 1;
    }
    (dots == 2 && end - i >= 16).then_some(i..end)
}

/// Whether some [`SECRET_PREFIXES`] entry starts with this byte: most words start with none
/// of them, and then the sixteen prefixes need not be compared.
const PREFIX_FIRST_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < SECRET_PREFIXES.len() {
        table[SECRET_PREFIXES[i].as_bytes()[0] as usize] = true;
        i += 1;
    }
    table
};

/// A token starting with a well-known vendor secret prefix.
fn prefixed_secret_at(b: &[u8], i: usize) -> Option<Range<usize>> {
    if !PREFIX_FIRST_BYTES[usize::from(b[i])] {
        return None;
    }
    let prefix = SECRET_PREFIXES
        .iter()
        .find(|p| p.as_bytes()[0] == b[i] && b[i..].starts_with(p.as_bytes()))?;
    let mut end = i + prefix.len();
    while end < b.len() && (b[end].is_ascii_alphanumeric() || matches!(b[end], b'_' | b'-')) {
        end += 1;
    }
    (end - i >= prefix.len() + 8).then_some(i..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_redacted() {
        assert_eq!(
            redact_text("contact jane.doe+x@example.co.uk now"),
            "contact [REDACTED] now"
        );
        assert_eq!(redact_text("a@b"), "a@b");
        assert_eq!(redact_text("@handle"), "@handle");
        assert_eq!(redact_text("x@host.c0m"), "x@host.c0m");
    }

    #[test]
    fn cards_need_a_valid_luhn_checksum() {
        assert_eq!(redact_text("card 4111111111111111."), "card [REDACTED].");
        assert_eq!(redact_text("4111 1111 1111 1111"), "[REDACTED]");
        assert_eq!(redact_text("4111-1111-1111-1111"), "[REDACTED]");
        // Same length, bad checksum: an id, kept.
        assert_eq!(redact_text("4111111111111112"), "4111111111111112");
        assert!(number_looks_like_card(4_111_111_111_111_111));
        assert!(!number_looks_like_card(4_111_111_111_111_112));
        assert!(!number_looks_like_card(42));
    }

    #[test]
    fn ssns_are_redacted() {
        assert_eq!(redact_text("ssn: 123-45-6789"), "ssn: [REDACTED]");
        assert_eq!(redact_text("2026-10-14"), "2026-10-14");
        assert_eq!(redact_text("123-456-789"), "123-456-789");
    }

    #[test]
    fn bearer_and_jwt_tokens_are_redacted() {
        assert_eq!(
            redact_text("Authorization: Bearer abc.DEF-123"),
            "Authorization: Bearer [REDACTED]"
        );
        assert_eq!(
            redact_text("t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl end"),
            "t=[REDACTED] end"
        );
        assert_eq!(redact_text("bearer"), "bearer");
        assert_eq!(redact_text("bearers are fine"), "bearers are fine");
    }

    #[test]
    fn vendor_secret_prefixes_are_redacted() {
        assert_eq!(
            redact_text("key sk_live_51H8abcdEFGH and whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            "key [REDACTED] and [REDACTED]"
        );
        assert_eq!(redact_text("task_live_x"), "task_live_x");
    }

    #[test]
    fn clean_text_is_borrowed() {
        assert!(matches!(
            redact_text("nothing to see, id 12345"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn luhn_reference_vectors() {
        let digits = |s: &str| s.bytes().map(|b| b - b'0').collect::<Vec<_>>();
        assert!(luhn_valid(digits("79927398713").into_iter()));
        assert!(!luhn_valid(digits("79927398710").into_iter()));
        assert!(luhn_valid(digits("378282246310005").into_iter()));
    }

    /// The allocating version `digits_at` replaced, kept as the reference.
    fn reference_digits_at(b: &[u8], start: usize) -> Option<Range<usize>> {
        let mut digits: Vec<u8> = Vec::with_capacity(19);
        let mut groups: Vec<usize> = vec![0];
        let mut separators_are_dashes = true;
        let mut end = start;
        let mut i = start;
        while i < b.len() {
            let c = b[i];
            if c.is_ascii_digit() {
                digits.push(c - b'0');
                *groups.last_mut().expect("never empty") += 1;
                i += 1;
                end = i;
                if digits.len() > 19 {
                    return None;
                }
            } else if matches!(c, b' ' | b'-') && i + 1 < b.len() && b[i + 1].is_ascii_digit() {
                separators_are_dashes &= c == b'-';
                groups.push(0);
                i += 1;
            } else {
                break;
            }
        }
        if end < b.len() && b[end].is_ascii_alphabetic() {
            return None;
        }
        let is_ssn = separators_are_dashes && groups == [3, 2, 4];
        let is_card = (13..=19).contains(&digits.len()) && luhn_valid(digits.iter().copied());
        (is_ssn || is_card).then_some(start..end)
    }

    /// The scanner `sensitive_spans` replaced (a chain of tests per byte), kept as the reference.
    fn reference_sensitive_spans(s: &str) -> Vec<Range<usize>> {
        let b = s.as_bytes();
        let mut spans = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            let at_word_start =
                i == 0 || !(b[i - 1].is_ascii_alphanumeric() || matches!(b[i - 1], b'_' | b'-'));
            let found = if c == b'@' {
                email_at(b, i)
            } else if c.is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
                digits_at(b, i)
            } else if at_word_start && (c == b'b' || c == b'B') {
                scheme_token_at(b, i, b"bearer").or_else(|| scheme_token_at(b, i, b"basic"))
            } else if at_word_start && c == b'e' {
                jwt_at(b, i)
            } else if at_word_start {
                prefixed_secret_at(b, i)
            } else {
                None
            };
            match found {
                Some(span) => {
                    push_merged(&mut spans, span.clone());
                    i = span.end.max(i + 1);
                }
                None => i += 1,
            }
        }
        spans
    }

    /// Pieces that open, close or almost make every pattern, for strings that hit them.
    const PIECES: &[&str] = &[
        "Bearer ",
        "basic ",
        "bEaReR\t",
        "eyJ",
        "eyJhbGciOi",
        ".",
        "..",
        "@",
        "a@b.co",
        "ex.com",
        "sk_live_",
        "whsec_",
        "ghp_",
        "xoxb-",
        "github_pat_",
        "abcdefgh12",
        "123",
        "-",
        " ",
        "4111111111111111",
        "078-05-1120",
        "4111 1111 1111 1111",
        "é",
        "_",
        "x",
        "9",
        "b",
    ];

    /// 36 bytes that are nearly UUIDs but hold something: the fast path must not take them.
    #[test]
    fn near_uuids_are_still_scanned() {
        for s in [
            // An `@` and a `.` where dashes belong: an email.
            "abcdef12@abcd-abcd-abcd.abcdefabcdef",
            // A 16-digit Luhn-valid run over two adjacent all-digit groups.
            "abcdef12-abcd-abcd-4111-111111111111",
        ] {
            assert_eq!(s.len(), 36);
            assert!(looks_sensitive(s), "{s}");
            assert_eq!(sensitive_spans(s), reference_sensitive_spans(s), "{s}");
        }
        assert!(!looks_sensitive("01a2293f-4716-70f6-b2e8-a2dccfe75861"));
    }

    proptest::proptest! {
        #[test]
        fn digit_runs_are_found_as_before(s in "[0-9 a-]{0,40}") {
            let b = s.as_bytes();
            for i in 0..b.len() {
                proptest::prop_assert_eq!(digits_at(b, i), reference_digits_at(b, i), "at {} in {:?}", i, s);
            }
        }

        #[test]
        fn the_scanner_finds_what_the_old_one_found(
            pieces in proptest::collection::vec(proptest::sample::select(PIECES), 0..14),
        ) {
            let s = pieces.concat();
            proptest::prop_assert_eq!(sensitive_spans(&s), reference_sensitive_spans(&s), "{:?}", s);
        }

        /// UUID-shaped values (the fast path's domain and its edges): digit-only groups
        /// (Luhn-valid runs included), upper-case hex, a wrong byte here and there.
        #[test]
        fn uuid_shaped_values_as_the_old_scanner_saw_them(
            groups in proptest::collection::vec(
                proptest::prop_oneof!["[0-9]{12}", "[0-9a-f]{12}", "[0-9A-F]{12}", "[0-9a-z@_ .-]{12}"],
                5,
            ),
            luhn_digits in proptest::collection::vec(0u8..10, 15),
            luhn_at in 0usize..5,
            swaps in proptest::collection::vec((proptest::sample::select(vec![8usize, 13, 18, 23, 0, 9, 35]), proptest::sample::select(vec!['@', '.', ' ', 'g', '_', '-', '1', 'e', 'B'])), 0..4),
        ) {
            let sizes = [8, 4, 4, 4, 12];
            let mut parts: Vec<String> = groups.iter().zip(sizes).map(|(g, n)| g[..n].to_owned()).collect();
            // Sometimes two adjacent groups hold one Luhn-valid run.
            if luhn_at < 4 {
                let mut digits = luhn_digits.clone();
                let len = sizes[luhn_at] + sizes[luhn_at + 1];
                digits.truncate(len - 1);
                digits.push(0);
                let check = (0..10).find(|d| {
                    *digits.last_mut().expect("not empty") = *d;
                    luhn_valid(digits.iter().copied())
                });
                if check.is_some() && len <= 19 {
                    let run: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
                    parts[luhn_at] = run[..sizes[luhn_at]].to_owned();
                    parts[luhn_at + 1] = run[sizes[luhn_at]..].to_owned();
                }
            }
            let mut s = parts.join("-");
            // Sometimes a few bytes are wrong for a UUID: dashes replaced (an `@` and a `.`
            // there make an email), a group's first or last byte.
            for (at, c) in swaps {
                if s.is_char_boundary(at) && s.is_char_boundary(at + 1) {
                    s.replace_range(at..at + 1, c.encode_utf8(&mut [0; 4]));
                }
            }
            proptest::prop_assert_eq!(sensitive_spans(&s), reference_sensitive_spans(&s), "{:?}", s);
        }

        #[test]
        fn on_any_text_too(s in proptest::prelude::any::<String>()) {
            proptest::prop_assert_eq!(sensitive_spans(&s), reference_sensitive_spans(&s));
        }

        #[test]
        fn card_and_ssn_shaped_runs_too(
            groups in proptest::collection::vec(("[0-9]{1,6}", proptest::sample::select(vec![" ", "-"])), 1..6),
            tail in "[a.x ]?",
        ) {
            let mut s = String::new();
            for (digits, sep) in &groups {
                s.push_str(digits);
                s.push_str(sep);
            }
            s.pop();
            s.push_str(&tail);
            proptest::prop_assert_eq!(digits_at(s.as_bytes(), 0), reference_digits_at(s.as_bytes(), 0), "{:?}", s);
        }

        /// Luhn-valid runs of 11–21 digits (random ones almost never pass the check), whole
        /// or cut into groups, with what may follow them.
        #[test]
        fn luhn_valid_runs_of_every_length(
            payload in proptest::collection::vec(0u8..10, 10..21),
            cuts in proptest::collection::vec((0usize..21, proptest::sample::select(vec![" ", "-"])), 0..3),
            tail in "[a.x 7-]?",
        ) {
            let mut digits = payload.clone();
            digits.push(0);
            let check = (0..10).find(|d| {
                *digits.last_mut().expect("one pushed") = *d;
                luhn_valid(digits.iter().copied())
            });
            proptest::prop_assert!(check.is_some());
            let mut s = String::new();
            for (i, d) in digits.iter().enumerate() {
                if i > 0 && let Some((_, sep)) = cuts.iter().find(|(at, _)| *at == i) {
                    s.push_str(sep);
                }
                s.push(char::from(b'0' + d));
            }
            s.push_str(&tail);
            proptest::prop_assert_eq!(digits_at(s.as_bytes(), 0), reference_digits_at(s.as_bytes(), 0), "{:?}", s);
        }
    }
}
