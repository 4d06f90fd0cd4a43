//! The one redactor every writer uses: boundary log, problem bodies, webhook-delivery logs and
//! error messages.
//!
//! ```
//! use tidegate_observe::redact::Redactor;
//!
//! let redactor = Redactor::new(["x-custom-secret"], ["email", "ssn"]);
//! let mut body = serde_json::json!({ "user": { "Email": "a@b.example", "name": "Ann" } });
//! redactor.json(&mut body);
//! assert_eq!(body["user"]["Email"], "[REDACTED]");
//! assert_eq!(
//!     redactor.url("https://api.example/x?access_token=abc&page=2"),
//!     "https://api.example/x?access_token=[REDACTED]&page=2"
//! );
//! ```
//!
//! Redaction happens before a log object is built, so the unredacted value never reaches a
//! serializer, a channel or a file. Four mechanisms, each applied by every writer:
//! - headers by name (configured list + a fixed list + names that look like credentials);
//! - JSON keys at any depth (configured `redact_fields` + a fixed list of credential names),
//!   compared case-insensitively and ignoring `_`/`-` (so `accessToken` matches `access_token`);
//! - values by pattern ([`patterns`]): emails, bearer/basic credentials, JWTs, Luhn-valid card
//!   numbers, US SSNs, well-known vendor secret prefixes;
//! - URL query parameters whose names carry secrets (and values that match a pattern).

mod body;
mod fragments;
pub mod patterns;
mod url;

use std::{borrow::Cow, collections::BTreeMap, sync::Arc};

pub use body::{BodyMode, MAX_CAPTURE};
pub use patterns::{REDACTED, redact_text};

/// Headers redacted whatever the configuration says.
pub const ALWAYS_REDACTED_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// Fragments of header names that mark a credential (e.g. `x-shopify-access-token`,
/// `webhook-signature`, `x-auth-key`). Matching them too is cheaper than a leak.
const SECRET_HEADER_FRAGMENTS: &[&str] = &[
    "token",
    "secret",
    "password",
    "api-key",
    "apikey",
    "auth",
    "signature",
    "session",
    "cookie",
    "credential",
];

/// [`SECRET_HEADER_FRAGMENTS`] for a one-pass search.
static HEADER_FRAGMENTS: fragments::Fragments = fragments::Fragments::new(SECRET_HEADER_FRAGMENTS);

/// JSON keys (normalized) redacted whatever the configuration says: credentials.
const ALWAYS_REDACTED_FIELDS: &[&str] = &[
    "accesstoken",
    "refreshtoken",
    "idtoken",
    "clientsecret",
    "password",
    "apikey",
    "secret",
    "token",
    "authorization",
    "privatekey",
    "webhooksecret",
    "cookie",
    "setcookie",
    "proxyauthorization",
];

/// Fragments of JSON keys (normalized) that mark a credential wherever they appear
/// (`x_shopify_access_token`, `clientSecretValue`, `session_cookie`, ...). Broader than the
/// fixed list; a pagination `next_page_token` is redacted too, which costs nothing.
const SECRET_FIELD_FRAGMENTS: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "apikey",
    "cookie",
    "credential",
    "signature",
    "privatekey",
];

/// [`SECRET_FIELD_FRAGMENTS`] for a one-pass search.
static FIELD_FRAGMENTS: fragments::Fragments = fragments::Fragments::new(SECRET_FIELD_FRAGMENTS);

/// The redactor, built once from `logging.redact_headers` / `logging.redact_fields` and shared.
#[derive(Clone, Debug)]
pub struct Redactor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Lower-case header names.
    headers: Vec<String>,
    /// Normalized JSON keys (see [`normalize_key`]).
    fields: Vec<String>,
    /// Normalized extra query parameter names (e.g. a connector's `auth.query`).
    query_params: Vec<String>,
}

/// Headers after redaction, ready for a log record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedactedHeaders {
    /// Lower-case name → value (multiple values joined with `, `), sorted by name.
    pub headers: BTreeMap<String, String>,
    /// The names whose values were replaced, sorted.
    pub redacted: Vec<String>,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new::<[&str; 0], &str, [&str; 0], &str>([], [])
    }
}

impl Redactor {
    /// The redactor of a default configuration (CONTRACT §2's `redact_headers` and
    /// `redact_fields` defaults, [`tidegate_core::defaults`]), for code that has no config.
    pub fn with_contract_defaults() -> Self {
        Self::new(
            tidegate_core::defaults::DEFAULT_REDACT_HEADERS,
            tidegate_core::defaults::DEFAULT_REDACT_FIELDS,
        )
    }

    /// A redactor for the configured header names and JSON field names (on top of the fixed
    /// lists, which cannot be turned off).
    pub fn new<H, HS, F, FS>(redact_headers: H, redact_fields: F) -> Self
    where
        H: IntoIterator<Item = HS>,
        HS: AsRef<str>,
        F: IntoIterator<Item = FS>,
        FS: AsRef<str>,
    {
        let mut headers: Vec<String> = ALWAYS_REDACTED_HEADERS
            .iter()
            .map(|h| (*h).to_owned())
            .chain(
                redact_headers
                    .into_iter()
                    .map(|h| h.as_ref().to_ascii_lowercase()),
            )
            .collect();
        headers.sort();
        headers.dedup();
        let mut fields: Vec<String> = ALWAYS_REDACTED_FIELDS
            .iter()
            .map(|f| (*f).to_owned())
            .chain(redact_fields.into_iter().map(|f| normalize_key(f.as_ref())))
            .filter(|f| !f.is_empty())
            .collect();
        fields.sort();
        fields.dedup();
        Redactor {
            inner: Arc::new(Inner {
                headers,
                fields,
                query_params: Vec::new(),
            }),
        }
    }

    /// Adds header names to redact (e.g. a connector's `auth.header`).
    pub fn with_headers<I: IntoIterator<Item = S>, S: AsRef<str>>(self, names: I) -> Self {
        let mut inner = self.cloned_inner();
        inner
            .headers
            .extend(names.into_iter().map(|h| h.as_ref().to_ascii_lowercase()));
        inner.headers.sort();
        inner.headers.dedup();
        Redactor {
            inner: Arc::new(inner),
        }
    }

    /// Adds query parameter names to redact (e.g. a connector's `auth.query`).
    pub fn with_query_params<I: IntoIterator<Item = S>, S: AsRef<str>>(self, names: I) -> Self {
        let mut inner = self.cloned_inner();
        inner
            .query_params
            .extend(names.into_iter().map(|q| normalize_key(q.as_ref())));
        Redactor {
            inner: Arc::new(inner),
        }
    }

    fn cloned_inner(&self) -> Inner {
        Inner {
            headers: self.inner.headers.clone(),
            fields: self.inner.fields.clone(),
            query_params: self.inner.query_params.clone(),
        }
    }

    /// Whether a header of this name is logged as `[REDACTED]`.
    pub fn is_secret_header(&self, name: &str) -> bool {
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            return self.is_secret_lower_header(&name.to_ascii_lowercase());
        }
        self.is_secret_lower_header(name)
    }

    fn is_secret_lower_header(&self, lower: &str) -> bool {
        self.inner.headers.iter().any(|h| h == lower) || HEADER_FRAGMENTS.found_in(lower)
    }

    /// Whether a JSON key is redacted (case-insensitive, ignoring `_` and `-`).
    pub fn is_secret_field(&self, key: &str) -> bool {
        let normalized = normalize_key(key);
        self.inner.fields.contains(&normalized) || FIELD_FRAGMENTS.found_in(&normalized)
    }

    /// Headers for a log record: secret ones replaced by [`REDACTED`], the others scanned for
    /// sensitive-looking values.
    pub fn headers(&self, headers: &http::HeaderMap) -> RedactedHeaders {
        let mut out = RedactedHeaders::default();
        self.each_header(headers, |name, value, redacted| {
            if redacted {
                out.redacted.push(name.to_owned());
            }
            out.headers.insert(name.to_owned(), value.into_owned());
        });
        out.redacted.sort();
        out
    }

    /// Visits the headers as a log record shows them, in name order (the order of
    /// [`RedactedHeaders::headers`]): the lower-case name, the value (several values joined
    /// with `, `; secret names give [`REDACTED`], other values have their sensitive-looking
    /// spans replaced) and whether the value was redacted. Allocates only for a name that
    /// occurs several times, for a value that is not UTF-8 or that gets redacted, and for the
    /// name list of a request with more than 16 distinct names: the boundary log calls this
    /// for every upstream request.
    pub(crate) fn each_header<'h>(
        &self,
        headers: &'h http::HeaderMap,
        mut visit: impl FnMut(&'h str, Cow<'h, str>, bool),
    ) {
        // Room for the names of nearly every request without a heap list; setting it up
        // writes one tag byte per slot. This runs for every upstream request, and its code
        // size counts as much as its instruction count (docs/performance.md, boundary
        // logging, session 5).
        const INLINE: usize = 16;
        let mut inline: [Option<Slot<'h>>; INLINE] = [None; INLINE];
        let mut spilled = Vec::new();
        let slots = if headers.keys_len() <= INLINE {
            &mut inline[..]
        } else {
            spilled.resize(headers.keys_len(), None);
            &mut spilled[..]
        };
        let names = sorted_names(headers, slots);
        for slot in names.iter().flatten() {
            // `HeaderName`s are lower case already.
            let key = slot.name.as_str();
            if self.is_secret_lower_header(key) {
                visit(key, Cow::Borrowed(REDACTED), true);
                continue;
            }
            let value = if slot.several {
                joined_values(headers, slot.name)
            } else {
                // Visible ASCII (nearly every value) is checked faster than UTF-8, same text.
                slot.value
                    .to_str()
                    .map_or_else(|_| lossy(slot.value), Cow::Borrowed)
            };
            match patterns::redact_text(&value) {
                Cow::Borrowed(_) => visit(key, value, false),
                Cow::Owned(redacted) => visit(key, Cow::Owned(redacted), true),
            }
        }
    }

    /// Redacts a JSON value in place: secret keys at any depth, then sensitive-looking values.
    pub fn json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    if self.is_secret_field(key) {
                        *v = Value::String(REDACTED.to_owned());
                    } else {
                        self.json(v);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.json(v)),
            Value::String(s) => {
                if let Some(redacted) = self.embedded(s) {
                    *s = redacted;
                } else if let Cow::Owned(redacted) = patterns::redact_text(s) {
                    *s = redacted;
                }
            }
            Value::Number(n) => {
                if n.as_u64().is_some_and(patterns::number_looks_like_card) {
                    *value = Value::String(REDACTED.to_owned());
                }
            }
            Value::Bool(_) | Value::Null => {}
        }
    }

    /// A string that carries a document of its own — JSON text (an echoed request, a vendor
    /// error wrapping another) or a form/query string (`client_secret=…&code=…`) — redacted
    /// as that document; `None` when `s` is neither.
    fn embedded(&self, s: &str) -> Option<String> {
        let trimmed = s.trim_start();
        if (trimmed.starts_with('{') || trimmed.starts_with('['))
            && let Ok(mut inner) = serde_json::from_str::<serde_json::Value>(s)
        {
            self.json(&mut inner);
            return Some(inner.to_string());
        }
        if s.contains('=') && !s.contains(char::is_whitespace) && !s.contains("://") {
            let redacted = self.url(&format!("?{s}"));
            return Some(redacted[1..].to_owned());
        }
        None
    }

    /// Free text (an error message, a problem `detail`): sensitive-looking values replaced.
    pub fn text<'a>(&self, s: &'a str) -> Cow<'a, str> {
        patterns::redact_text(s)
    }

    /// A problem document with its free-text members and the upstream body redacted, for
    /// error normalization to call before a problem leaves the gateway.
    pub fn problem(&self, problem: &mut tidegate_core::Problem) {
        if let Some(detail) = problem.detail.as_mut()
            && let Cow::Owned(redacted) = patterns::redact_text(detail)
        {
            *detail = redacted;
        }
        if let Some(upstream) = problem.upstream.as_mut() {
            for text in [upstream.message.as_mut(), upstream.code.as_mut()]
                .into_iter()
                .flatten()
            {
                if let Cow::Owned(redacted) = patterns::redact_text(text) {
                    *text = redacted;
                }
            }
            if let Some(body) = upstream.body.as_mut() {
                self.json(body);
            }
        }
    }

    /// A URL with secret query values (and any userinfo password) replaced.
    pub fn url(&self, url: &str) -> String {
        let mut out = String::with_capacity(url.len() + 16);
        url::redact_url(self, url, |piece| out.push_str(piece));
        out
    }

    /// [`url`](Self::url) handed over in pieces (their concatenation is the redacted URL), so
    /// the boundary log can escape them straight into its line without building a `String`.
    pub(crate) fn url_pieces(&self, url: &str, push: impl FnMut(&str)) {
        url::redact_url(self, url, push);
    }

    /// [`url_pieces`](Self::url_pieces) for the path and query of a URL whose origin is
    /// redacted once and kept (see [`UrlBase`](crate::boundary::UrlBase)): the path as it is,
    /// the query and fragment redacted as in a whole URL.
    pub(crate) fn path_and_query_pieces(&self, path_and_query: &str, push: impl FnMut(&str)) {
        url::redact_path_and_query(self, path_and_query, push);
    }

    fn is_secret_query_param(&self, normalized: &str) -> bool {
        url::is_secret_param_name(normalized)
            || self.inner.fields.iter().any(|f| f == normalized)
            || self.inner.query_params.iter().any(|q| q == normalized)
    }

    /// A captured body as it may appear in a log record (see [`BodyMode`]).
    ///
    /// `captured` holds at most [`MAX_CAPTURE`] bytes; `total_len` is the full length seen.
    pub fn body(
        &self,
        mode: &BodyMode,
        captured: &[u8],
        total_len: u64,
        content_type: Option<&str>,
    ) -> Option<serde_json::Value> {
        body::redact_body(self, mode, captured, total_len, content_type)
    }

    /// The shape of a body that was not read to its end (`{ length, content_type,
    /// truncated: true }`), or `None` in [`BodyMode::None`].
    pub fn body_shape(
        &self,
        mode: &BodyMode,
        seen_len: u64,
        content_type: Option<&str>,
    ) -> Option<serde_json::Value> {
        (*mode != BodyMode::None).then(|| body::shape_only(seen_len, content_type, true))
    }
}

/// One distinct header name of a request, for [`Redactor::each_header`].
#[derive(Clone, Copy)]
struct Slot<'h> {
    name: &'h http::HeaderName,
    /// Its first value.
    value: &'h http::HeaderValue,
    /// It has more than one value.
    several: bool,
}

/// The distinct names of `headers` in name order (the order of a `BTreeMap<String, _>`: by
/// bytes, as `str` orders), in the first slots of `slots` (which has room for
/// `headers.keys_len()`); one walk over the map, inserting each new name in place.
///
/// A name's values come one after another in the walk, so a name equal to the one just
/// inserted marks a name with several values.
fn sorted_names<'s, 'h>(
    headers: &'h http::HeaderMap,
    slots: &'s mut [Option<Slot<'h>>],
) -> &'s [Option<Slot<'h>>] {
    let mut n = 0;
    let mut last: Option<(&'h http::HeaderName, usize)> = None;
    for (name, value) in headers {
        if let Some((last_name, at)) = last
            && last_name == name
        {
            if let Some(slot) = &mut slots[at] {
                slot.several = true;
            }
            continue;
        }
        let mut at = n;
        while at > 0 && slots[at - 1].is_some_and(|s| s.name.as_str() > name.as_str()) {
            slots[at] = slots[at - 1];
            at -= 1;
        }
        slots[at] = Some(Slot {
            name,
            value,
            several: false,
        });
        n += 1;
        last = Some((name, at));
    }
    &slots[..n]
}

/// The values of a name with several, joined with `, ` (as a log shows them).
#[cold]
fn joined_values<'h>(headers: &'h http::HeaderMap, name: &http::HeaderName) -> Cow<'h, str> {
    let mut joined = String::new();
    for (i, value) in headers.get_all(name).iter().enumerate() {
        if i > 0 {
            joined.push_str(", ");
        }
        joined.push_str(&String::from_utf8_lossy(value.as_bytes()));
    }
    Cow::Owned(joined)
}

/// A value that is not visible ASCII, as text.
#[cold]
fn lossy(value: &http::HeaderValue) -> Cow<'_, str> {
    String::from_utf8_lossy(value.as_bytes())
}

/// A JSON key or query name as compared against the redaction lists: ASCII lower case, with
/// `_`, `-` and `.` removed, so `Access-Token`, `access_token` and `accessToken` are one name.
pub fn normalize_key(key: &str) -> String {
    key.chars()
        .filter(|c| !matches!(c, '_' | '-' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn redactor() -> Redactor {
        Redactor::new(["x-custom"], ["email", "ssn", "phone"])
    }

    #[test]
    fn headers_by_name_and_by_value() {
        let mut h = http::HeaderMap::new();
        h.insert("authorization", "Bearer sekrit".parse().unwrap());
        h.insert("x-custom", "hidden".parse().unwrap());
        h.insert("x-shopify-access-token", "shpat_1".parse().unwrap());
        h.insert("content-type", "application/json".parse().unwrap());
        h.insert("x-contact", "mail bob@example.com".parse().unwrap());
        h.append("accept", "a".parse().unwrap());
        h.append("accept", "b".parse().unwrap());
        let r = redactor().headers(&h);
        assert_eq!(r.headers["authorization"], REDACTED);
        assert_eq!(r.headers["x-custom"], REDACTED);
        assert_eq!(r.headers["x-shopify-access-token"], REDACTED);
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(r.headers["x-contact"], "mail [REDACTED]");
        assert_eq!(r.headers["accept"], "a, b");
        assert_eq!(
            r.redacted,
            [
                "authorization",
                "x-contact",
                "x-custom",
                "x-shopify-access-token"
            ]
        );
    }

    proptest::proptest! {
        /// Every distinct name once, in name order, with its values joined; any number of
        /// names (the inline list and the heap list), in any insertion order.
        #[test]
        fn headers_are_visited_once_each_in_name_order(
            entries in proptest::collection::vec(
                (proptest::sample::select(vec!["accept", "x-a", "x-b", "x-request-id", "content-type", "x-auth-token", "a", "zz"]), 0u8..40, "[a-z0-9 ]{0,6}"),
                0..48,
            ),
        ) {
            let mut headers = http::HeaderMap::new();
            let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (base, suffix, value) in &entries {
                // Half the names from the short list, the rest made distinct.
                let name = if suffix % 2 == 0 { (*base).to_owned() } else { format!("{base}-{suffix}") };
                headers.append(http::HeaderName::try_from(name.as_str()).unwrap(), value.parse().unwrap());
                expected.entry(name).or_default().push(value.clone());
            }
            let r = Redactor::default();
            let mut seen = Vec::new();
            r.each_header(&headers, |name, value, _| seen.push((name.to_owned(), value.into_owned())));
            let expected: Vec<(String, String)> = expected
                .into_iter()
                .map(|(name, values)| {
                    let value = if r.is_secret_header(&name) { REDACTED.to_owned() } else { redact_text(&values.join(", ")).into_owned() };
                    (name, value)
                })
                .collect();
            proptest::prop_assert_eq!(seen, expected);
        }
    }

    #[test]
    fn many_headers_and_repeated_names() {
        let mut h = http::HeaderMap::new();
        let mut expected = BTreeMap::new();
        for i in (0..40).rev() {
            let name = format!("x-h{i:02}");
            h.append(
                http::HeaderName::try_from(name.as_str()).unwrap(),
                format!("v{i}").parse().unwrap(),
            );
            let mut value = format!("v{i}");
            if i % 7 == 0 {
                h.append(
                    http::HeaderName::try_from(name.as_str()).unwrap(),
                    "w".parse().unwrap(),
                );
                value.push_str(", w");
            }
            expected.insert(name, value);
        }
        h.append("x-auth-token", "t".parse().unwrap());
        expected.insert("x-auth-token".into(), REDACTED.into());
        let r = redactor().headers(&h);
        assert_eq!(r.headers, expected);
        assert_eq!(r.redacted, ["x-auth-token"]);
    }

    #[test]
    fn json_keys_at_any_depth_case_insensitive() {
        let mut v = json!({
            "EMAIL": "x", "nested": [{ "deep": { "Ssn": 123456789, "accessToken": "t" } }],
            "note": "call 123-45-6789", "card": 4111111111111111u64, "id": 7
        });
        redactor().json(&mut v);
        assert_eq!(
            v,
            json!({
                "EMAIL": "[REDACTED]", "nested": [{ "deep": { "Ssn": "[REDACTED]", "accessToken": "[REDACTED]" } }],
                "note": "call [REDACTED]", "card": "[REDACTED]", "id": 7
            })
        );
    }

    #[test]
    fn problems_are_redacted() {
        let mut p = tidegate_core::Problem::new(
            tidegate_core::ErrorCode::InvalidRequest,
            "bad email bob@example.com",
        );
        p.upstream = Some(tidegate_core::UpstreamProblem {
            status: 400,
            code: Some("BAD".into()),
            message: Some("token Bearer abc123".into()),
            request_id: None,
            body: Some(json!({"email": "x", "errors": [{"password": "p"}]})),
        });
        redactor().problem(&mut p);
        assert_eq!(p.detail.as_deref(), Some("bad email [REDACTED]"));
        let up = p.upstream.unwrap();
        assert_eq!(up.message.as_deref(), Some("token Bearer [REDACTED]"));
        assert_eq!(
            up.body,
            Some(json!({"email": "[REDACTED]", "errors": [{"password": "[REDACTED]"}]}))
        );
    }

    #[test]
    fn documents_inside_strings_are_redacted_as_documents() {
        let mut v = json!({
            "echo": "{\"email\":\"x\",\"name\":\"Ann\",\"headers\":{\"cookie\":\"sid=1\"}}",
            "form": "grant_type=refresh_token&refresh_token=RT1&client_secret=CS1",
            "padded": "YWJj==",
            "prose": "a = b"
        });
        redactor().json(&mut v);
        let echo: serde_json::Value = serde_json::from_str(v["echo"].as_str().unwrap()).unwrap();
        assert_eq!(
            echo,
            json!({"email": "[REDACTED]", "name": "Ann", "headers": {"cookie": "[REDACTED]"}})
        );
        assert_eq!(
            v["form"],
            "grant_type=refresh_token&refresh_token=[REDACTED]&client_secret=[REDACTED]"
        );
        assert_eq!(v["padded"], "YWJj==");
        assert_eq!(v["prose"], "a = b");
    }

    #[test]
    fn credential_looking_keys_are_redacted_by_fragment() {
        let r = Redactor::default();
        assert!(r.is_secret_field("x_shopify_access_token"));
        assert!(r.is_secret_field("clientSecretValue"));
        assert!(r.is_secret_field("Set-Cookie"));
        assert!(!r.is_secret_field("author"));
        assert!(!r.is_secret_field("total_count"));
    }

    #[test]
    fn fixed_lists_cannot_be_configured_away() {
        let r = Redactor::default();
        assert!(r.is_secret_header("Authorization"));
        assert!(r.is_secret_header("set-cookie"));
        assert!(r.is_secret_field("client_secret"));
        assert!(r.is_secret_field("Refresh-Token"));
        assert!(!r.is_secret_field("name"));
    }

    #[test]
    fn extra_headers_and_query_params() {
        let r = Redactor::default()
            .with_headers(["X-Vendor-Key"])
            .with_query_params(["hapikey"]);
        assert!(r.is_secret_header("x-vendor-key"));
        assert_eq!(r.url("/x?hapikey=abc"), "/x?hapikey=[REDACTED]");
    }
}
