//! A minimal JSON writer for boundary-log lines: strings, integers and `null`, appended to a
//! byte buffer.
//!
//! Why not serde_json: a line is written on the request's task for every upstream exchange,
//! and going through `Serialize` meant building an owned record first (a `String` per field,
//! a `BTreeMap` of headers) only to walk it once. Writing straight into the line's buffer
//! needs no intermediate value. The output is byte-for-byte what `serde_json` writes (compact
//! form, the same escapes), which the property test below checks for arbitrary strings.

/// For each byte: 0 when it is written as is, otherwise the character after the backslash
/// (`u` for `\u00XX`). The same table as serde_json's: `"`, `\` and the control characters
/// below 0x20 are escaped; `\b \t \n \f \r` get their short forms; DEL and non-ASCII pass.
const ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0A] = b'n';
    table[0x0C] = b'f';
    table[0x0D] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A string to write, and whether it may need escaping.
#[derive(Clone, Copy)]
pub(crate) enum Text<'a> {
    /// Anything: escaped as needed.
    Any(&'a str),
    /// Known to need no escaping, by where it comes from: an HTTP token (a method, a header
    /// name: RFC 9110 `tchar`s, which exclude `"`, `\` and controls) or ASCII tidegate
    /// wrote itself (a timestamp). Copied as it is.
    Token(&'a str),
}

/// Appends `text` as a JSON string.
pub(crate) fn text(out: &mut Vec<u8>, text: Text<'_>) {
    match text {
        Text::Any(s) => string(out, s),
        Text::Token(s) => {
            debug_assert!(!needs_escape(s.as_bytes()), "not a token: {s:?}");
            out.push(b'"');
            out.extend_from_slice(s.as_bytes());
            out.push(b'"');
        }
    }
}

/// Appends `s` as a JSON string (quoted and escaped).
pub(crate) fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    escaped(out, s);
    out.push(b'"');
}

/// Appends the escaped contents of `s` without the quotes (for a string written in pieces).
///
/// Almost no logged string needs an escape, so the common case is one check and one copy:
/// [`needs_escape`] looks at eight bytes at a time, and only a string it flags is walked
/// byte by byte.
pub(crate) fn escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if needs_escape(bytes) {
        escape_each(out, bytes);
    } else {
        out.extend_from_slice(bytes);
    }
}

/// Whether some byte of `bytes` is escaped in JSON (never false when one is).
///
/// Eight bytes at a time (see [`may_need_escape`]); the last, partial chunk is the string's
/// last eight bytes read again (overlapping the previous chunk, which changes nothing: the
/// question is only whether *some* byte needs it), so no padded copy is made. A string
/// shorter than eight bytes is looked up byte by byte.
fn needs_escape(bytes: &[u8]) -> bool {
    if bytes.len() < 8 {
        return bytes.iter().any(|&b| ESCAPE[usize::from(b)] != 0);
    }
    let (chunks, rest) = bytes.as_chunks::<8>();
    if chunks
        .iter()
        .any(|chunk| may_need_escape(u64::from_le_bytes(*chunk)))
    {
        return true;
    }
    !rest.is_empty() && {
        let (_, last) = bytes.split_at(bytes.len() - 8);
        let last: [u8; 8] = last.try_into().unwrap_or([b' '; 8]);
        may_need_escape(u64::from_le_bytes(last))
    }
}

/// The slow path of [`escaped`]: plain runs copied whole, escaped bytes written one by one.
fn escape_each(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    for at in 0..bytes.len() {
        start = escape_byte(out, bytes, start, at);
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Escapes `bytes[at]` if it needs it (flushing the plain run `bytes[start..at]` first);
/// returns where the next plain run starts.
fn escape_byte(out: &mut Vec<u8>, bytes: &[u8], start: usize, at: usize) -> usize {
    let b = bytes[at];
    let escape = ESCAPE[usize::from(b)];
    if escape == 0 {
        return start;
    }
    out.extend_from_slice(&bytes[start..at]);
    out.push(b'\\');
    out.push(escape);
    if escape == b'u' {
        out.extend_from_slice(b"00");
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xF)]);
    }
    at + 1
}

/// Whether one of the eight bytes of `chunk` is below 0x20, `"` or `\` (never false when
/// one is; the word tricks from "Bit Twiddling Hacks", `haszero`/`hasless`, which are exact
/// about whether some byte matches).
fn may_need_escape(chunk: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below_space = chunk.wrapping_sub(ONES * 0x20) & !chunk & HIGH;
    let q = chunk ^ (ONES * u64::from(b'"'));
    let quote = q.wrapping_sub(ONES) & !q & HIGH;
    let b = chunk ^ (ONES * u64::from(b'\\'));
    let backslash = b.wrapping_sub(ONES) & !b & HIGH;
    (below_space | quote | backslash) != 0
}

/// Appends `s` as a JSON string, or `null`.
pub(crate) fn opt_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// Appends an unsigned integer in decimal.
pub(crate) fn uint(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Appends an unsigned integer, or `null`.
pub(crate) fn opt_uint(out: &mut Vec<u8>, n: Option<u64>) {
    match n {
        Some(n) => uint(out, n),
        None => out.extend_from_slice(b"null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn as_json(s: &str) -> String {
        let mut out = Vec::new();
        string(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_like_serde_json() {
        for s in [
            "",
            "plain",
            "quote \" and backslash \\",
            "\u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f} \u{7f}",
            "é ü 日本 🦀",
        ] {
            assert_eq!(as_json(s), serde_json::to_string(s).unwrap());
        }
    }

    #[test]
    fn tokens_are_written_as_strings_are() {
        for s in ["GET", "x-request-id", "2026-10-14T08:12:33.412Z", ""] {
            let (mut token, mut any) = (Vec::new(), Vec::new());
            text(&mut token, Text::Token(s));
            text(&mut any, Text::Any(s));
            assert_eq!(token, any);
        }
    }

    #[test]
    fn integers_like_serde_json() {
        for n in [0, 1, 9, 10, 99, 100, 12_345, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            uint(&mut out, n);
            assert_eq!(out, serde_json::to_vec(&n).unwrap());
        }
        let mut out = Vec::new();
        opt_uint(&mut out, None);
        opt_string(&mut out, None);
        assert_eq!(out, b"nullnull");
    }

    proptest! {
        #[test]
        fn any_string_is_written_as_serde_json_writes_it(s in any::<String>()) {
            prop_assert_eq!(as_json(&s), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn chunk_check_never_misses_a_byte_to_escape(chunk in any::<[u8; 8]>()) {
            let needs = chunk.iter().any(|&b| ESCAPE[usize::from(b)] != 0);
            prop_assert!(!needs || may_need_escape(u64::from_le_bytes(chunk)));
        }

        #[test]
        fn needs_escape_says_exactly_whether_a_byte_is_escaped(
            bytes in prop::collection::vec(prop_oneof![4 => 0x20u8..0x7f, 1 => any::<u8>()], 0..40),
        ) {
            let expected = bytes.iter().any(|&b| ESCAPE[usize::from(b)] != 0);
            prop_assert_eq!(needs_escape(&bytes), expected);
        }

        #[test]
        fn sparse_escapes_in_long_strings(
            parts in prop::collection::vec(("[a-zé/. -]{0,20}", prop::sample::select(vec!["", "\"", "\\", "\n", "\u{1}", "\u{1f}", "\u{7f}"])), 0..8),
        ) {
            let s: String = parts.iter().map(|(a, b)| format!("{a}{b}")).collect();
            prop_assert_eq!(as_json(&s), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn control_heavy_strings_too(s in "[\\x00-\\x7f\"\\\\]{0,40}") {
            prop_assert_eq!(as_json(&s), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn any_integer_is_written_as_serde_json_writes_it(n in any::<u64>()) {
            let mut out = Vec::new();
            uint(&mut out, n);
            prop_assert_eq!(out, serde_json::to_vec(&n).unwrap());
        }
    }
}
