//! Text from outside (a receiver's error body, a transport or storage error that quotes a URL,
//! a provider's event id) made safe for a `tracing` field, with the one redactor.
//!
//! ```
//! use tidegate_events::logsafe::{redacted_text, receiver_snippet};
//!
//! assert_eq!(
//!     redacted_text("error sending request for url (https://hooks.example/in?token=abc&x=1)"),
//!     "error sending request for url (https://hooks.example/in?token=[REDACTED]&x=1)"
//! );
//! assert_eq!(
//!     receiver_snippet(br#"{"error":"bad","password":"p4ss"}"#),
//!     r#"{"error":"bad","password":"[REDACTED]"}"#
//! );
//! ```
//!
//! Why here and not at the subscriber: a `tracing` field is formatted by whichever subscriber
//! the binary installed (stdout JSON, a file, OTLP); redacting before the field is built means
//! no subscriber ever holds the raw text.

use std::sync::LazyLock;

use tidegate_observe::redact::{REDACTED, Redactor};

/// Longest receiver-body snippet kept in a log field (characters).
pub const MAX_SNIPPET_CHARS: usize = 256;

/// Bytes of a receiver's error body read for the snippet.
pub const MAX_SNIPPET_BYTES: usize = 1024;

/// The delivery worker has no `[logging]` settings of its own: the contract's defaults.
static REDACTOR: LazyLock<Redactor> = LazyLock::new(Redactor::with_contract_defaults);

/// Free text with every URL's secret query values and every sensitive-looking value
/// (emails, bearer tokens, vendor secret prefixes, ...) replaced.
pub fn redacted_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("://") {
        // Back up to the scheme's first character.
        let scheme_start = rest[..start]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| i + 1);
        let end = rest[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '>' | ','))
            .map_or(rest.len(), |i| start + i);
        out.push_str(&rest[..scheme_start]);
        out.push_str(&REDACTOR.url(&rest[scheme_start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    REDACTOR.text(&out).into_owned()
}

/// A receiver's (capped) error body as a log field: JSON redacted by key and value, other text
/// by value; JSON cut off by the cap is left out (a cut document cannot be redacted by key).
pub fn receiver_snippet(body: &[u8]) -> String {
    let complete = body.len() < MAX_SNIPPET_BYTES;
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_SNIPPET_BYTES)]);
    let trimmed = text.trim();
    let redacted = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        match serde_json::from_str::<serde_json::Value>(trimmed) {
            Ok(mut v) if complete => {
                REDACTOR.json(&mut v);
                v.to_string()
            }
            _ => format!("{REDACTED} (JSON body not shown)"),
        }
    } else {
        redacted_text(trimmed)
    };
    match redacted.char_indices().nth(MAX_SNIPPET_CHARS) {
        Some((i, _)) => format!("{}…", &redacted[..i]),
        None => redacted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_text_lose_their_secret_query_values() {
        assert_eq!(
            redacted_text("GET http://a.example/x?api_key=K1 failed; mail ann@example.com"),
            "GET http://a.example/x?api_key=[REDACTED] failed; mail [REDACTED]"
        );
        assert_eq!(redacted_text("plain failure"), "plain failure");
    }

    #[test]
    fn snippets_are_redacted_capped_and_never_half_documents() {
        assert_eq!(
            receiver_snippet(b"denied for Bearer abc.def-123"),
            "denied for Bearer [REDACTED]"
        );
        let long = format!("{{\"password\":\"p\",\"pad\":\"{}\"}}", "x".repeat(2000));
        assert_eq!(
            receiver_snippet(long.as_bytes()),
            "[REDACTED] (JSON body not shown)"
        );
        let text = "y".repeat(600);
        assert_eq!(
            receiver_snippet(text.as_bytes()).chars().count(),
            MAX_SNIPPET_CHARS + 1
        );
    }
}
