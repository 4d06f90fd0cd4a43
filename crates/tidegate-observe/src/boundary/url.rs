//! [`UrlBase`]: the fixed start of a connector's upstream URLs, redacted and escaped once.

use http::Uri;

use super::json;
use crate::redact::Redactor;

/// The start every upstream URL of a connector shares — `scheme://authority` and the base
/// path — with each request's path and query appended, as tidegate-stack's `UpstreamBase`
/// joins them: the base path is a prefix (its trailing `/` dropped), a target without a path
/// and query adds nothing (a `/` when the base has no path), and a target that does not start
/// with `/` gets one.
///
/// Why not a [`UrlResolver`](super::UrlResolver) that builds the `String`: the base is the
/// same on every exchange, so the boundary log redacts and escapes it once, and per exchange
/// only copies it and handles the path and query (see [`BoundaryLogLayer::url_base`]).
///
/// [`BoundaryLogLayer::url_base`]: super::BoundaryLogLayer::url_base
#[derive(Clone, Debug)]
pub struct UrlBase {
    /// `scheme://authority` and the base path without its trailing `/`.
    text: Box<str>,
    /// The base has no path: an empty path and query is written as `/`.
    bare: bool,
}

impl UrlBase {
    /// The base `scheme://authority` followed by `path` (`""` for none; one trailing `/` or
    /// more is dropped).
    pub fn new(scheme: &str, authority: &str, path: &str) -> Self {
        let path = path.trim_end_matches('/');
        UrlBase {
            text: format!("{scheme}://{authority}{path}").into(),
            bare: path.is_empty(),
        }
    }

    /// The URL sent for a request whose target is `target` (only its path and query count).
    pub fn url(&self, target: &Uri) -> String {
        let (slash, path_and_query) = self.tail(target);
        let mut url = String::with_capacity(self.text.len() + 1 + path_and_query.len());
        url.push_str(&self.text);
        url.push_str(slash);
        url.push_str(path_and_query);
        url
    }

    /// What follows the base for `target`: a `/` when one is needed, and the path and query.
    fn tail<'u>(&self, target: &'u Uri) -> (&'static str, &'u str) {
        let path_and_query = target.path_and_query().map_or("", |pq| pq.as_str());
        let slash = if path_and_query.is_empty() {
            if self.bare { "/" } else { "" }
        } else if path_and_query.starts_with('/') {
            ""
        } else {
            "/"
        };
        (slash, path_and_query)
    }

    /// This base, redacted by `redactor` (a password in its userinfo) and JSON-escaped: what
    /// the line gets on every exchange.
    pub(super) fn escaped(&self, redactor: &Redactor) -> EscapedBase {
        let mut text = Vec::new();
        redactor.url_pieces(&self.text, |piece| json::escaped(&mut text, piece));
        EscapedBase {
            base: self.clone(),
            text: text.into(),
        }
    }
}

/// A [`UrlBase`] ready for lines.
#[derive(Clone, Debug)]
pub(super) struct EscapedBase {
    base: UrlBase,
    /// The base, redacted and escaped.
    text: Box<[u8]>,
}

impl EscapedBase {
    /// The escaped contents of the `url` string (without the quotes) for a request to
    /// `target`: the same as redacting [`UrlBase::url`] and escaping the pieces.
    pub(super) fn write(&self, out: &mut Vec<u8>, redactor: &Redactor, target: &Uri) {
        let (slash, path_and_query) = self.base.tail(target);
        out.extend_from_slice(&self.text);
        out.extend_from_slice(slash.as_bytes());
        redactor.path_and_query_pieces(path_and_query, |piece| json::escaped(out, piece));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn joins_as_the_stack_joins() {
        let cases = [
            (
                "https",
                "api.example.com",
                "",
                "/a/b?x=1",
                "https://api.example.com/a/b?x=1",
            ),
            (
                "https",
                "api.example.com",
                "/v2/",
                "/a",
                "https://api.example.com/v2/a",
            ),
            // An authority-form target has no path and query at all.
            (
                "https",
                "api.example.com",
                "/v2",
                "h.example:443",
                "https://api.example.com/v2",
            ),
            (
                "https",
                "api.example.com",
                "",
                "h.example:443",
                "https://api.example.com/",
            ),
            (
                "https",
                "api.example.com",
                "/v2",
                "https://h.example",
                "https://api.example.com/v2/",
            ),
            ("http", "127.0.0.1:9", "", "*", "http://127.0.0.1:9/*"),
        ];
        for (scheme, authority, path, target, expected) in cases {
            let target: Uri = target.parse().unwrap();
            assert_eq!(UrlBase::new(scheme, authority, path).url(&target), expected);
        }
    }

    fn target() -> impl Strategy<Value = Uri> {
        prop_oneof![
            "/[a-z0-9/@:._-]{0,12}(\\?[a-z_]{1,8}=[a-z0-9@.%+]{0,16}(&[a-z_]{1,12}=[a-z0-9]{0,8}){0,2})?",
            Just("*".to_owned()),
            Just("https://evil.example/s?access_token=t".to_owned()),
            Just("https://evil.example".to_owned()),
            Just("h.example:443".to_owned()),
        ]
        .prop_filter_map("a valid target", |t| t.parse().ok())
    }

    proptest! {
        /// The line's `url` from a base is what redacting and escaping the joined URL gives.
        #[test]
        fn written_from_the_base_as_from_the_whole_url(
            authority in "(u(:p[a-z]{0,3})?@)?[a-z]{1,6}(:[0-9]{1,4})?",
            path in "(/[a-z\"]{0,4}){0,2}/?",
            target in target(),
        ) {
            let redactor = Redactor::default().with_query_params(["session_id"]);
            let base = UrlBase::new("https", &authority, &path);
            let mut from_base = Vec::new();
            base.escaped(&redactor).write(&mut from_base, &redactor, &target);
            let mut whole = Vec::new();
            redactor.url_pieces(&base.url(&target), |piece| json::escaped(&mut whole, piece));
            prop_assert_eq!(String::from_utf8(from_base).unwrap(), String::from_utf8(whole).unwrap());
        }
    }
}
