//! [`BoundaryLog`]: the service that records each exchange.

use std::{
    cell::RefCell,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use http::{Request, Response};
use tidegate_core::{Body, Error, RequestContext};
use tokio::time::Instant;
use tower::Service;
use tracing::Instrument;

use super::{
    body::{CaptureBody, Captured},
    future::{Pending, ResponseFuture},
    json::{self, Text},
    layer::{Settings, UrlSource},
    line, timestamp,
};
use crate::{
    redact::{BodyMode, Redactor},
    trace,
};

/// The boundary-log service (see the [module docs](super)).
#[derive(Clone)]
pub struct BoundaryLog<S> {
    inner: S,
    settings: Arc<Settings>,
}

impl<S> std::fmt::Debug for BoundaryLog<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundaryLog")
            .field("connector", &self.settings.connector)
            .finish_non_exhaustive()
    }
}

impl<S> BoundaryLog<S> {
    pub(super) fn new(inner: S, settings: Arc<Settings>) -> Self {
        BoundaryLog { inner, settings }
    }
}

impl<S> Service<Request<Body>> for BoundaryLog<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Error>,
{
    type Response = Response<Body>;
    type Error = Error;
    type Future = ResponseFuture<tracing::instrument::Instrumented<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let settings = self.settings.clone();
        let attempt = settings
            .attempt
            .as_ref()
            .and_then(|read| read(req.extensions()))
            .unwrap_or(1);
        let sampled = settings.sample_rate > 0.0
            && (settings.sample_rate >= 1.0 || rand::random::<f64>() < settings.sample_rate);

        // The request part of the line is written now, redacted, straight into the line's
        // buffer; the request itself is not kept.
        let ctx = RequestContext::of(&req);
        let generated_id;
        let (request_id, connector): (&str, &str) = match ctx {
            Some(c) => (&c.request_id, &c.connector),
            None => {
                generated_id = tidegate_core::context::new_request_id();
                (&generated_id, &settings.connector)
            }
        };
        // A caller's `X-Request-Id` is the caller's text: redacted like any other value (an
        // email sent as a request id must not reach the log). A UUID costs one short walk.
        let request_id = settings.redactor.text(request_id);
        let request_id: &str = &request_id;
        let stamp = timestamp::now();
        let mut out = Vec::with_capacity(LINE_CAPACITY);
        let head = line::Head {
            // Digits and `-T:.Z`, written by tidegate.
            timestamp: Text::Token(stamp.as_str()),
            request_id,
            environment_id: ctx.and_then(|c| c.environment.as_deref()),
            integrated_account_id: ctx.and_then(|c| c.account_id.as_deref()),
            connector,
            attempt,
        };
        line::open(&mut out, &head, Text::Token(req.method().as_str()));
        write_url(&mut out, &settings, req.uri());
        write_headers(&mut out, &settings.redactor, req.headers());
        let key_from_extensions = settings
            .idempotency_key
            .as_ref()
            .and_then(|read| read(req.extensions()));
        let key = match &key_from_extensions {
            Some(key) => Some(key.as_str()),
            None => settings
                .idempotency_header
                .as_ref()
                .and_then(|name| req.headers().get(name)?.to_str().ok()),
        };
        let key = key.map(|key| settings.redactor.text(key));
        line::idempotency_key(&mut out, key.as_deref());
        let span = trace::attempt_span(request_id, connector, attempt);

        let (req, request_capture) = if sampled && settings.body_mode != BodyMode::None {
            let (req, captured) = capture_request_body(req);
            (req, Some(captured))
        } else {
            (req, None)
        };

        let pending = Pending {
            line: out,
            started: Instant::now(),
            sampled,
            request_capture,
            settings,
        };
        ResponseFuture::new(self.inner.call(req).instrument(span), pending)
    }
}

/// Wraps the body of a sampled request so that a bounded copy of it is kept for the line.
///
/// Out of line: most exchanges are not sampled, and the code of the common path stays short
/// (see docs/performance.md, boundary logging, on instruction-cache misses).
#[inline(never)]
fn capture_request_body(req: Request<Body>) -> (Request<Body>, Arc<Mutex<Captured>>) {
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let captured = Arc::new(Mutex::new(Captured::new(content_type)));
    let (parts, body) = req.into_parts();
    let body = CaptureBody::new(body, captured.clone());
    (
        Request::from_parts(parts, http_body_util::BodyExt::boxed_unsync(body)),
        captured,
    )
}

/// Room for a typical line (~600 bytes with a handful of headers), so that it is not grown.
const LINE_CAPACITY: usize = 1024;

thread_local! {
    /// Where a request URI is formatted when no resolver is set (reused: no `String` per call).
    static URI_TEXT: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The `url` string: the URL actually sent (see [`UrlResolver`](super::UrlResolver) and
/// [`UrlBase`](super::UrlBase)), its secret query values and userinfo password redacted.
fn write_url(out: &mut Vec<u8>, settings: &Settings, uri: &http::Uri) {
    out.push(b'"');
    match &settings.url {
        UrlSource::Base(base) => base.write(out, &settings.redactor, uri),
        UrlSource::Resolver(resolve) => {
            let url = resolve(uri);
            settings
                .redactor
                .url_pieces(&url, |piece| json::escaped(out, piece));
        }
        UrlSource::AsIs => URI_TEXT.with_borrow_mut(|text| {
            uri_text(uri, text);
            settings
                .redactor
                .url_pieces(text, |piece| json::escaped(out, piece));
        }),
    }
    out.push(b'"');
}

/// `uri.to_string()` into a reused `String`: the same pieces `Uri`'s `Display` writes, without
/// the formatting machinery (a test compares the two).
fn uri_text(uri: &http::Uri, text: &mut String) {
    text.clear();
    if let Some(scheme) = uri.scheme_str() {
        text.push_str(scheme);
        text.push_str("://");
    }
    if let Some(authority) = uri.authority() {
        text.push_str(authority.as_str());
    }
    text.push_str(uri.path());
    if let Some(query) = uri.query() {
        text.push('?');
        text.push_str(query);
    }
}

/// `headers` and `headers_redacted`, as [`Redactor::headers`](crate::redact::Redactor::headers)
/// gives them, without building its map.
fn write_headers(out: &mut Vec<u8>, redactor: &Redactor, headers: &http::HeaderMap) {
    let mut redacted = Names::default();
    line::headers(out, |members| {
        redactor.each_header(headers, |name, value, was_redacted| {
            // A `HeaderName`'s text is a token.
            members.entry(Text::Token(name), &value);
            if was_redacted {
                redacted.push(name);
            }
        });
    });
    // Visited in name order, so already sorted.
    line::redacted_names(out, |members| {
        for name in redacted.iter() {
            members.item(name);
        }
    });
}

/// The names of the redacted headers of one request: a few at most, kept on the stack.
#[derive(Default)]
struct Names<'a> {
    inline: [&'a str; 4],
    len: usize,
    more: Vec<&'a str>,
}

impl<'a> Names<'a> {
    fn push(&mut self, name: &'a str) {
        if let Some(slot) = self.inline.get_mut(self.len) {
            *slot = name;
            self.len += 1;
        } else {
            self.more.push(name);
        }
    }

    fn iter(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.inline[..self.len]
            .iter()
            .copied()
            .chain(self.more.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_text_is_what_display_writes() {
        for uri in [
            "https://api.hubapi.com/crm/v3/objects/contacts/123?properties=email&access_token=abc",
            "http://user:pw@h.example:8080/p?q",
            "https://h.example",
            "https://h.example/",
            "https://h.example?x=1",
            "/relative/path?x=1&y",
            "/",
            "*",
            "h.example:443",
            "/p?",
            "https://h.example/a%20b?c=%41+d",
        ] {
            let uri: http::Uri = uri.parse().unwrap();
            let mut text = String::new();
            uri_text(&uri, &mut text);
            assert_eq!(text, uri.to_string());
        }
    }
}
