//! URL redaction: secret query values and userinfo passwords.

use std::borrow::Cow;

use super::{REDACTED, Redactor, fragments::Fragments, normalize_key, patterns};

/// Query parameter names (normalized) whose values are credentials or one-time secrets.
const SECRET_PARAMS: &[&str] = &[
    "accesstoken",
    "apikey",
    "clientsecret",
    "code",
    "token",
    "key",
    "signature",
    "sig",
    "password",
    "refreshtoken",
    "idtoken",
    "secret",
    "auth",
    "xamzsignature",
    "xamzcredential",
    "xamzsecuritytoken",
];

/// Whether a normalized query parameter name carries a secret: a listed name, or one that
/// contains `token`, `secret`, `password`, `signature` or ends in `key`.
pub(super) fn is_secret_param_name(normalized: &str) -> bool {
    SECRET_PARAMS.contains(&normalized)
        || PARAM_FRAGMENTS.found_in(normalized)
        || normalized.ends_with("key")
}

/// The fragments that make a query parameter name secret wherever they occur.
static PARAM_FRAGMENTS: Fragments = Fragments::new(&["token", "secret", "password", "signature"]);

/// Hands the redacted form of `url` to `push` piece by piece (the pieces concatenated are the
/// redacted URL). Borrows from `url` wherever nothing is replaced; allocates only to decode a
/// percent-encoded or `+`-spaced name or value, or to normalize a long or non-ASCII name.
pub(super) fn redact_url(redactor: &Redactor, url: &str, mut push: impl FnMut(&str)) {
    let (base, query, fragment) = split(url);
    redact_userinfo(base, &mut push);
    redact_query_and_fragment(redactor, query, fragment, &mut push);
}

/// [`redact_url`] for the part of a URL after its authority (the path, query and fragment):
/// what `redact_url` writes for `origin + path_and_query` is `origin`'s redaction followed by
/// this, when `origin` is `scheme://authority[/path]` with no query or fragment and
/// `path_and_query` is empty or starts with `/`. The path is kept as it is (as `redact_url`
/// keeps it).
pub(super) fn redact_path_and_query(
    redactor: &Redactor,
    path_and_query: &str,
    mut push: impl FnMut(&str),
) {
    let (path, query, fragment) = split(path_and_query);
    push(path);
    redact_query_and_fragment(redactor, query, fragment, &mut push);
}

/// `url` cut at its first `?` and at its `#` (a `?` after the `#` is the fragment's), in one
/// pass: (before the query, the query, the fragment), the delimiters left out.
fn split(url: &str) -> (&str, Option<&str>, Option<&str>) {
    let (mut question, mut hash) = (None, None);
    for (i, &b) in url.as_bytes().iter().enumerate() {
        match b {
            b'?' if question.is_none() => question = Some(i),
            b'#' => {
                hash = Some(i);
                break;
            }
            _ => {}
        }
    }
    let (without_fragment, fragment) = match hash {
        Some(i) => (&url[..i], Some(&url[i + 1..])),
        None => (url, None),
    };
    match question {
        Some(i) => (
            &without_fragment[..i],
            Some(&without_fragment[i + 1..]),
            fragment,
        ),
        None => (without_fragment, None, fragment),
    }
}

/// `?query` with secret values redacted, then `#fragment` (redacted whole when it carries a
/// parameter or something sensitive).
fn redact_query_and_fragment(
    redactor: &Redactor,
    query: Option<&str>,
    fragment: Option<&str>,
    push: &mut impl FnMut(&str),
) {
    if let Some(query) = query {
        push("?");
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                push("&");
            }
            let (name, value) = match pair.find('=') {
                Some(eq) => (&pair[..eq], Some(&pair[eq + 1..])),
                None => (pair, None),
            };
            push(&patterns::redact_text(name));
            let Some(value) = value else { continue };
            push("=");
            let secret_name = is_secret_name(redactor, &percent_decode(name));
            if secret_name || patterns::looks_sensitive(&percent_decode(value)) {
                push(REDACTED);
            } else {
                push(value);
            }
        }
    }
    if let Some(fragment) = fragment {
        push("#");
        if fragment.contains('=') || patterns::looks_sensitive(&percent_decode(fragment)) {
            // OAuth implicit flows put tokens in the fragment.
            push(REDACTED);
        } else {
            push(fragment);
        }
    }
}

/// Whether a (decoded) query name is a secret one, normalized as [`normalize_key`] does; a
/// short ASCII name (all real ones) is normalized on the stack.
fn is_secret_name(redactor: &Redactor, name: &str) -> bool {
    let mut buf = [0u8; 64];
    if name.is_ascii() && name.len() <= buf.len() {
        let mut n = 0;
        for b in name.bytes().filter(|b| !matches!(b, b'_' | b'-' | b'.')) {
            buf[n] = b.to_ascii_lowercase();
            n += 1;
        }
        // ASCII in, ASCII out.
        if let Ok(normalized) = std::str::from_utf8(&buf[..n]) {
            return redactor.is_secret_query_param(normalized);
        }
    }
    redactor.is_secret_query_param(&normalize_key(name))
}

/// `scheme://user:password@host/...` → `scheme://user:[REDACTED]@host/...`.
fn redact_userinfo(base: &str, push: &mut impl FnMut(&str)) {
    let bytes = base.as_bytes();
    // The first `://`, found from its `:` (a window compare at every byte cost more).
    let mut from = 0;
    let scheme_end = loop {
        let Some(colon) = bytes[from..].iter().position(|&b| b == b':') else {
            return push(base);
        };
        let colon = from + colon;
        if bytes[colon + 1..].starts_with(b"//") {
            break colon;
        }
        from = colon + 1;
    };
    let authority_start = scheme_end + 3;
    // One pass over the authority (up to the first `/`) for its last `@`.
    let mut at = None;
    for (i, &b) in bytes[authority_start..].iter().enumerate() {
        match b {
            b'/' => break,
            b'@' => at = Some(i),
            _ => {}
        }
    }
    let Some(at) = at else {
        return push(base);
    };
    let userinfo = &base[authority_start..authority_start + at];
    let user = userinfo.split(':').next().unwrap_or("");
    push(&base[..authority_start]);
    push(user);
    if userinfo.contains(':') {
        push(":");
        push(REDACTED);
    }
    push(&base[authority_start + at..]);
}

/// Lossy percent-decoding (and `+` as space), enough to compare names and scan values;
/// borrowed when there is nothing to decode.
fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(|b| matches!(b, b'%' | b'+')) {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_params_are_redacted_others_kept() {
        let r = Redactor::default();
        assert_eq!(
            r.url("https://h.example/p?access_token=AAA&limit=10&Client_Secret=BBB&code=CCC&flag"),
            "https://h.example/p?access_token=[REDACTED]&limit=10&Client_Secret=[REDACTED]&code=[REDACTED]&flag"
        );
        assert_eq!(
            r.url("https://h.example/p?api%5Fkey=AAA"),
            "https://h.example/p?api%5Fkey=[REDACTED]"
        );
        assert_eq!(
            r.url("/p?hapikey=X&signature=Y"),
            "/p?hapikey=[REDACTED]&signature=[REDACTED]"
        );
    }

    #[test]
    fn sensitive_values_under_innocent_names() {
        let r = Redactor::default();
        assert_eq!(r.url("/p?q=bob%40example.com"), "/p?q=[REDACTED]");
        assert_eq!(r.url("/p?q=hello"), "/p?q=hello");
    }

    #[test]
    fn userinfo_and_fragment() {
        let r = Redactor::default();
        assert_eq!(
            r.url("https://user:pw@h.example/x"),
            "https://user:[REDACTED]@h.example/x"
        );
        assert_eq!(
            r.url("https://h.example/cb#access_token=abc&state=1"),
            "https://h.example/cb#[REDACTED]"
        );
        assert_eq!(
            r.url("https://h.example/doc#section"),
            "https://h.example/doc#section"
        );
    }

    #[test]
    fn percent_decoding_edge_cases() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("a%zz"), "a%zz");
        assert_eq!(percent_decode("a%41+b"), "aA b");
    }

    // The String-building version `redact_url` replaced, kept as the reference.
    fn reference_redact_url(redactor: &Redactor, url: &str) -> String {
        let (without_fragment, fragment) = match url.find('#') {
            Some(i) => (&url[..i], Some(&url[i + 1..])),
            None => (url, None),
        };
        let (base, query) = match without_fragment.find('?') {
            Some(i) => (&without_fragment[..i], Some(&without_fragment[i + 1..])),
            None => (without_fragment, None),
        };
        let mut out = String::with_capacity(url.len() + 16);
        out.push_str(&reference_userinfo(base));
        if let Some(query) = query {
            out.push('?');
            for (i, pair) in query.split('&').enumerate() {
                if i > 0 {
                    out.push('&');
                }
                let (name, value) = match pair.find('=') {
                    Some(eq) => (&pair[..eq], Some(&pair[eq + 1..])),
                    None => (pair, None),
                };
                out.push_str(&patterns::redact_text(name));
                let Some(value) = value else { continue };
                out.push('=');
                let secret_name =
                    redactor.is_secret_query_param(&normalize_key(&reference_decode(name)));
                if secret_name || patterns::looks_sensitive(&reference_decode(value)) {
                    out.push_str(REDACTED);
                } else {
                    out.push_str(value);
                }
            }
        }
        if let Some(fragment) = fragment {
            out.push('#');
            if fragment.contains('=') || patterns::looks_sensitive(&reference_decode(fragment)) {
                // OAuth implicit flows put tokens in the fragment.
                out.push_str(REDACTED);
            } else {
                out.push_str(fragment);
            }
        }
        out
    }

    fn reference_userinfo(base: &str) -> String {
        let Some(scheme_end) = base.find("://") else {
            return base.to_owned();
        };
        let authority_start = scheme_end + 3;
        let authority_end = base[authority_start..]
            .find('/')
            .map_or(base.len(), |i| authority_start + i);
        let authority = &base[authority_start..authority_end];
        let Some(at) = authority.rfind('@') else {
            return base.to_owned();
        };
        let userinfo = &authority[..at];
        let user = userinfo.split(':').next().unwrap_or("");
        let mut out = String::with_capacity(base.len());
        out.push_str(&base[..authority_start]);
        out.push_str(user);
        if userinfo.contains(':') {
            out.push(':');
            out.push_str(REDACTED);
        }
        out.push_str(&base[authority_start + at..]);
        out
    }

    /// The decoder itself did not change (its own tests are above); the reference redactor
    /// uses it as it is.
    fn reference_decode(s: &str) -> String {
        percent_decode(s).into_owned()
    }

    fn redacted(r: &Redactor, url: &str) -> String {
        r.url(url)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 1024, ..Default::default() })]

        /// An origin's redaction followed by the path and query's is the whole URL's.
        #[test]
        fn origin_then_path_and_query_is_the_whole_url(
            userinfo in "([a-z]{0,4}(:[a-z@]{0,4})?@)?",
            host in "[a-z0-9.:-]{1,12}",
            prefix in "(/[a-z:@]{0,5}){0,2}",
            rest in "[a-z0-9/?&=#@:_.%+-]{0,30}|\\PC{0,30}",
        ) {
            let r = Redactor::default().with_query_params(["sessionid"]);
            let origin = format!("https://{userinfo}{host}{prefix}");
            let path_and_query = format!("/{rest}");
            let mut pieces = r.url(&origin);
            redact_path_and_query(&r, &path_and_query, |piece| pieces.push_str(piece));
            proptest::prop_assert_eq!(pieces, r.url(&format!("{origin}{path_and_query}")));
        }

        #[test]
        fn pieces_join_to_what_the_string_version_wrote(
            url in "(https?://([a-z]{1,4}(:[a-z]{0,3})?@)?[a-z.]{1,8}(:[0-9]{2})?)?(/[a-zA-Z0-9%@._-]{0,8}){0,3}(\\?([a-zA-Z_.%+-]{0,10}(=[a-zA-Z0-9@.%+_ -]{0,12})?&?){0,4})?(#[a-z=&0-9@.]{0,10})?",
        ) {
            let r = Redactor::new(["x"], ["email", "Custom_Field"]).with_query_params(["hapikey"]);
            proptest::prop_assert_eq!(redacted(&r, &url), reference_redact_url(&r, &url));
        }

        /// Delimiters in every order and number: several `@`, `?`, `#`, `://`.
        #[test]
        fn delimiter_soup_too(
            pieces in proptest::collection::vec(proptest::sample::select(&[
                "https", "://", "u", "u:p", "@", "h.io", "/", "?", "#", "=", "&", "access_token",
                "a@b.co", ":", "%40", "x",
            ][..]), 0..16),
        ) {
            let url = pieces.concat();
            let r = Redactor::default();
            proptest::prop_assert_eq!(redacted(&r, &url), reference_redact_url(&r, &url), "{:?}", url);
        }

        #[test]
        fn any_text_too(url in proptest::prelude::any::<String>()) {
            let r = Redactor::default();
            proptest::prop_assert_eq!(redacted(&r, &url), reference_redact_url(&r, &url));
        }

        #[test]
        fn names_normalize_as_normalize_key_does(name in "[a-zA-Z_.%+-é]{0,70}") {
            let r = Redactor::new(["x"], ["e_mail", "ssn"]);
            proptest::prop_assert_eq!(
                is_secret_name(&r, &name),
                r.is_secret_query_param(&normalize_key(&name))
            );
        }
    }
}
