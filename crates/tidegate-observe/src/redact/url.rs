//! URL redaction: secret query values and userinfo passwords.

use super::{REDACTED, Redactor, normalize_key, patterns};

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
        || ["token", "secret", "password", "signature"]
            .iter()
            .any(|f| normalized.contains(f))
        || normalized.ends_with("key")
}

pub(super) fn redact_url(redactor: &Redactor, url: &str) -> String {
    let (without_fragment, fragment) = match url.find('#') {
        Some(i) => (&url[..i], Some(&url[i + 1..])),
        None => (url, None),
    };
    let (base, query) = match without_fragment.find('?') {
        Some(i) => (&without_fragment[..i], Some(&without_fragment[i + 1..])),
        None => (without_fragment, None),
    };
    let mut out = String::with_capacity(url.len() + 16);
    out.push_str(&redact_userinfo(base));
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
            let secret_name = redactor.is_secret_query_param(&normalize_key(&percent_decode(name)));
            if secret_name || patterns::looks_sensitive(&percent_decode(value)) {
                out.push_str(REDACTED);
            } else {
                out.push_str(value);
            }
        }
    }
    if let Some(fragment) = fragment {
        out.push('#');
        if fragment.contains('=') || patterns::looks_sensitive(&percent_decode(fragment)) {
            // OAuth implicit flows put tokens in the fragment.
            out.push_str(REDACTED);
        } else {
            out.push_str(fragment);
        }
    }
    out
}

/// `scheme://user:password@host/...` → `scheme://user:[REDACTED]@host/...`.
fn redact_userinfo(base: &str) -> String {
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

/// Lossy percent-decoding (and `+` as space), enough to compare names and scan values.
fn percent_decode(s: &str) -> String {
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
    String::from_utf8_lossy(&out).into_owned()
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
}
