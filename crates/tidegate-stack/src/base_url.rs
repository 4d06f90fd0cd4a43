//! Joining a caller's relative URI onto a connector's `base_url`.
//!
//! `base_url = "https://api.example.com/v2"` and a request for `/contacts?limit=10` go to
//! `https://api.example.com/v2/contacts?limit=10`: the base path is a prefix, never replaced.
//! Parsing happens once when the stack is built, so the per-request join is one small string
//! build (none at all when the base has no path).

use http::{
    Uri,
    uri::{Authority, PathAndQuery, Scheme},
};

/// A parsed, validated connector `base_url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamBase {
    scheme: Scheme,
    authority: Authority,
    /// The base path without its trailing slash (`""` for a bare host).
    prefix: Box<str>,
}

/// Why a `base_url` is unusable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BaseUrlError {
    /// Not a URI at all.
    #[error("base_url is not a valid URL: {0}")]
    Invalid(String),
    /// Missing scheme or host.
    #[error("base_url must be absolute (https://host[/path])")]
    NotAbsolute,
    /// A scheme other than http(s), or plain http to a non-loopback host.
    #[error(
        "base_url must use https (plain http is allowed only for loopback hosts such as 127.0.0.1)"
    )]
    InsecureScheme,
    /// Query strings and fragments belong to requests, not to the base.
    #[error("base_url must not contain a query or fragment")]
    HasQuery,
}

impl UpstreamBase {
    /// Parses `url`, refusing plain `http` unless the host is a loopback address (credentials
    /// are injected into these requests; they must not cross a network in clear text).
    pub fn parse(url: &str) -> Result<Self, BaseUrlError> {
        if url.contains('#') {
            return Err(BaseUrlError::HasQuery);
        }
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| BaseUrlError::Invalid(e.to_string()))?;
        let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned())
        else {
            return Err(BaseUrlError::NotAbsolute);
        };
        if uri.query().is_some() {
            return Err(BaseUrlError::HasQuery);
        }
        let allowed =
            scheme == Scheme::HTTPS || (scheme == Scheme::HTTP && is_loopback(authority.host()));
        if !allowed {
            return Err(BaseUrlError::InsecureScheme);
        }
        let prefix = uri.path().trim_end_matches('/').into();
        Ok(Self {
            scheme,
            authority,
            prefix,
        })
    }

    /// The upstream URI for a request whose (relative) target is `target`.
    ///
    /// Only the path and query of `target` are used: a caller cannot redirect a connector to
    /// another host by sending an absolute URI.
    pub fn join(&self, target: &Uri) -> Uri {
        let path_and_query = self.origin_form(target);
        Uri::from_parts({
            let mut parts = http::uri::Parts::default();
            parts.scheme = Some(self.scheme.clone());
            parts.authority = Some(self.authority.clone());
            parts.path_and_query = Some(path_and_query);
            parts
        })
        .expect("scheme, authority and path are all set and valid")
    }

    /// This base as the boundary log writes URLs: it appends each request's path and query
    /// as [`join`](Self::join) does (a test checks the two agree), with the base redacted and
    /// escaped once instead of per exchange.
    pub fn log_url_base(&self) -> tidegate_observe::boundary::UrlBase {
        tidegate_observe::boundary::UrlBase::new(
            self.scheme.as_str(),
            self.authority.as_str(),
            &self.prefix,
        )
    }

    /// The path and query [`join`](Self::join) sends for `target` (the request line's
    /// origin form): the base path prefix, then `target`'s path and query.
    pub fn origin_form(&self, target: &Uri) -> PathAndQuery {
        match target.path_and_query() {
            Some(pq) if self.prefix.is_empty() && pq.as_str().starts_with('/') => pq.clone(),
            Some(pq) => {
                let mut s = String::with_capacity(self.prefix.len() + pq.as_str().len() + 1);
                s.push_str(&self.prefix);
                if !pq.as_str().starts_with('/') {
                    s.push('/');
                }
                s.push_str(pq.as_str());
                PathAndQuery::try_from(s).unwrap_or_else(|_| PathAndQuery::from_static("/"))
            }
            None if self.prefix.is_empty() => PathAndQuery::from_static("/"),
            None => PathAndQuery::try_from(&*self.prefix)
                .unwrap_or_else(|_| PathAndQuery::from_static("/")),
        }
    }

    /// The `Host` header value for this base: the host, plus the port when it is not the
    /// scheme's default (as browsers and hyper's pooled client send it).
    pub fn host_header(&self) -> http::HeaderValue {
        let default_port = if self.is_https() { 443 } else { 80 };
        let value = match self.authority.port_u16() {
            Some(port) if port != default_port => format!("{}:{port}", self.authority.host()),
            _ => self.authority.host().to_owned(),
        };
        http::HeaderValue::try_from(value).expect("a parsed authority is a valid header value")
    }

    /// `scheme://authority/`: what the connector dials.
    pub fn origin(&self) -> Uri {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query("/")
            .build()
            .expect("scheme and authority are valid")
    }

    /// The authority (`host[:port]`), e.g. for the `Host` header.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// Whether requests go over TLS.
    pub fn is_https(&self) -> bool {
        self.scheme == Scheme::HTTPS
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(base: &str, target: &str) -> String {
        UpstreamBase::parse(base)
            .unwrap()
            .join(&target.parse().unwrap())
            .to_string()
    }

    #[test]
    fn keeps_the_base_path_prefix_and_the_query() {
        assert_eq!(
            join("https://api.example.com/v2", "/contacts?limit=10&a=%20b"),
            "https://api.example.com/v2/contacts?limit=10&a=%20b"
        );
        assert_eq!(
            join("https://api.example.com/v2/", "/contacts"),
            "https://api.example.com/v2/contacts"
        );
        assert_eq!(
            join("https://api.hubapi.com", "/crm/v3/objects/contacts"),
            "https://api.hubapi.com/crm/v3/objects/contacts"
        );
        assert_eq!(join("http://127.0.0.1:9/", "/"), "http://127.0.0.1:9/");
    }

    #[test]
    fn host_header_drops_only_the_default_port() {
        let host = |b: &str| UpstreamBase::parse(b).unwrap().host_header();
        assert_eq!(host("https://api.example.com/v2"), "api.example.com");
        assert_eq!(host("https://api.example.com:443"), "api.example.com");
        assert_eq!(
            host("https://api.example.com:8443/x"),
            "api.example.com:8443"
        );
        assert_eq!(host("http://127.0.0.1:80"), "127.0.0.1");
        assert_eq!(host("http://127.0.0.1:9000"), "127.0.0.1:9000");
        assert_eq!(
            UpstreamBase::parse("http://[::1]:9/v1")
                .unwrap()
                .origin()
                .to_string(),
            "http://[::1]:9/"
        );
    }

    #[test]
    fn the_log_url_is_the_joined_uri_as_text() {
        for base in [
            "https://api.example.com",
            "https://api.example.com/v2",
            "https://api.example.com:8443/v2/",
            "http://127.0.0.1:9",
            "http://[::1]:9/x",
        ] {
            let base = UpstreamBase::parse(base).unwrap();
            for target in [
                "/",
                "/a/b",
                "/a?x=1&y=%20",
                "*",
                "https://evil.example/s?x=1",
            ] {
                let target: Uri = target.parse().unwrap();
                assert_eq!(
                    base.log_url_base().url(&target),
                    base.join(&target).to_string(),
                    "{target}"
                );
            }
            let bare = Uri::from_static("https://h.example");
            assert_eq!(base.log_url_base().url(&bare), base.join(&bare).to_string());
            let authority_form = Uri::from_static("h.example:443");
            assert_eq!(
                base.log_url_base().url(&authority_form),
                base.join(&authority_form).to_string()
            );
        }
    }

    #[test]
    fn ignores_a_callers_host() {
        assert_eq!(
            join(
                "https://api.example.com/v2",
                "https://evil.example/steal?x=1"
            ),
            "https://api.example.com/v2/steal?x=1"
        );
    }

    #[test]
    fn refuses_insecure_or_incomplete_bases() {
        use BaseUrlError::*;
        let err = |s| UpstreamBase::parse(s).unwrap_err();
        assert_eq!(err("http://api.example.com"), InsecureScheme);
        assert_eq!(err("ftp://127.0.0.1"), InsecureScheme);
        assert_eq!(err("/just/a/path"), NotAbsolute);
        assert_eq!(err("https://api.example.com/?a=1"), HasQuery);
        assert_eq!(err("https://api.example.com/#x"), HasQuery);
        assert!(matches!(err("https://exa mple.com"), Invalid(_)));
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost",
            "http://[::1]:1/x",
        ] {
            assert!(UpstreamBase::parse(ok).is_ok(), "{ok}");
        }
    }
}
