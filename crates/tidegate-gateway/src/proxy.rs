//! `ANY /proxy/{connector}/{*path}?{query}` → the connector's stack (CONTRACT §3).
//!
//! The hot path, in order: request id (kept when valid, else a UUIDv7), the environment from
//! the bearer api key, the connector (one `HashMap` lookup), `X-Integrated-Account-Id`
//! (required when the connector stores credentials), the declared body size; then the
//! caller's `Authorization`, hop-by-hop headers and the account header are removed, the
//! [`RequestContext`] is attached, and the request (body streamed through a length limit)
//! goes through the connector's stack. The response streams back with hop-by-hop headers
//! removed and `X-Request-Id` added. Nothing is buffered and nothing locks: stacks, routes,
//! key digests and metric handles are all built once.

use std::{sync::Arc, time::Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, Uri, header::CONTENT_LENGTH, uri::PathAndQuery};
use tidegate_core::{
    Body, BoxError, ErrorCode, Problem, RequestContext,
    context::{is_valid_request_id, new_request_id},
};
use tidegate_stack::ConnectorService;
use tower::Service;
use tracing::Instrument;

use crate::{
    AppState,
    auth::KnownKey,
    headers::{X_INTEGRATED_ACCOUNT_ID, X_REQUEST_ID, sanitize_request, strip_hop_by_hop},
    limit::{LengthLimited, too_large},
    metrics::ConnectorMetrics,
};

/// The path prefix of proxied requests.
pub const PREFIX: &str = "/proxy/";

/// A connector as the proxy sees it (built once).
#[derive(Clone, Debug)]
pub(crate) struct Route {
    name: Arc<str>,
    service: ConnectorService,
    requires_account: bool,
    metrics: ConnectorMetrics,
}

impl Route {
    pub(crate) fn new(
        name: Arc<str>,
        service: ConnectorService,
        requires_account: bool,
        metrics: ConnectorMetrics,
    ) -> Self {
        Self {
            name,
            service,
            requires_account,
            metrics,
        }
    }
}

/// What is known about a request when the gateway has to refuse it.
struct Refusal<'a> {
    request_id: &'a Arc<str>,
    connector: Option<&'a Arc<str>>,
    account: Option<Arc<str>>,
}

impl Refusal<'_> {
    fn respond(self, code: ErrorCode, detail: impl Into<String>) -> Response<Body> {
        let mut p = Problem::new(code, detail);
        p.request_id = Some(self.request_id.to_string());
        p.connector = self.connector.map(|c| c.to_string());
        p.integrated_account_id = self.account.map(|a| a.to_string());
        p.into_response()
    }
}

/// Handles one proxied request (any incoming body type: hyper's or axum's); `known` is the
/// client connection's remembered api key, when the caller tracks connections.
pub(crate) async fn handle<B>(
    state: &AppState,
    req: Request<B>,
    known: Option<&KnownKey>,
) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let started = Instant::now();
    let inner = &*state.inner;
    let (mut parts, body) = req.into_parts();

    // 1. Request id: the caller's when valid, else a fresh UUIDv7 (also sent upstream).
    let (request_id, id_header): (Arc<str>, HeaderValue) = match parts.headers.get(X_REQUEST_ID) {
        Some(v) if is_valid_request_id(v.as_bytes()) => (
            Arc::from(v.to_str().expect("visible ASCII is valid str")),
            v.clone(),
        ),
        _ => {
            let id = new_request_id();
            let v = HeaderValue::try_from(id.as_str()).expect("a UUID is a valid header value");
            parts.headers.insert(X_REQUEST_ID, v.clone());
            (Arc::from(id), v)
        }
    };
    let with_id = |mut response: Response<Body>| {
        response
            .headers_mut()
            .insert(X_REQUEST_ID, id_header.clone());
        response
    };

    // 2. Split `/proxy/{connector}{/rest}`.
    let path = parts.uri.path();
    let after = path.strip_prefix(PREFIX).unwrap_or("");
    let (connector, rest) = match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, "/"),
    };

    // 3. The environment follows from the api key. Checked before the connector so that an
    //    unauthenticated caller learns nothing about which connectors exist.
    let refuse = |connector, account| Refusal {
        request_id: &request_id,
        connector,
        account,
    };
    let Some(environment) = crate::auth::bearer(&parts.headers).and_then(|token| match known {
        Some(known) => known.environment(&inner.api_keys, token),
        None => inner.api_keys.environment(token).cloned(),
    }) else {
        inner.metrics.count_unrouted(ErrorCode::Unauthorized);
        return with_id(refuse(None, None).respond(
            ErrorCode::Unauthorized,
            "missing or wrong api key (Authorization: Bearer <environment api key>)",
        ));
    };

    // 4. The connector.
    let Some(route) = inner.routes.get(connector) else {
        inner.metrics.count_unrouted(ErrorCode::UnknownConnector);
        return with_id(refuse(None, None).respond(
            ErrorCode::UnknownConnector,
            format!("no connector named {connector:?}"),
        ));
    };
    let finish = |response: Response<Body>, problem: Option<ErrorCode>| {
        route
            .metrics
            .record(response.status().as_u16(), problem, started.elapsed());
        with_id(response)
    };

    // 5. The integrated account.
    let account: Option<Arc<str>> = match parts.headers.get(X_INTEGRATED_ACCOUNT_ID) {
        Some(v) if is_valid_request_id(v.as_bytes()) => {
            Some(Arc::from(v.to_str().expect("visible ASCII is valid str")))
        }
        Some(_) => {
            let r = refuse(Some(&route.name), None).respond(
                ErrorCode::InvalidRequest,
                "X-Integrated-Account-Id must be 1 to 128 visible ASCII characters",
            );
            return finish(r, Some(ErrorCode::InvalidRequest));
        }
        None if route.requires_account => {
            let r = refuse(Some(&route.name), None).respond(
                ErrorCode::InvalidRequest,
                format!(
                    "connector {:?} needs an X-Integrated-Account-Id header",
                    &*route.name
                ),
            );
            return finish(r, Some(ErrorCode::InvalidRequest));
        }
        None => None,
    };

    // 6. Dot segments could walk out of the base path; no real API needs them.
    if has_dot_segment(rest) {
        let r = refuse(Some(&route.name), account).respond(
            ErrorCode::InvalidRequest,
            "path must not contain '.' or '..' segments",
        );
        return finish(r, Some(ErrorCode::InvalidRequest));
    }

    // 7. A declared body over the limit is refused before anything goes upstream.
    let limit = inner.max_request_body;
    if let Some(len) = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit
    {
        let r = refuse(Some(&route.name), account)
            .respond(ErrorCode::PayloadTooLarge, too_large(limit).detail());
        return finish(r, Some(ErrorCode::PayloadTooLarge));
    }

    // 8. The upstream request: relative URI (the stack joins it onto base_url), clean headers,
    //    context, and the body streamed through the length limit.
    parts.uri = match upstream_target(rest, parts.uri.query()) {
        Some(uri) => uri,
        None => {
            let r = refuse(Some(&route.name), account)
                .respond(ErrorCode::InvalidRequest, "invalid request target");
            return finish(r, Some(ErrorCode::InvalidRequest));
        }
    };
    sanitize_request(&mut parts.headers);
    let ctx = RequestContext {
        request_id: request_id.clone(),
        connector: route.name.clone(),
        environment: Some(environment),
        account_id: account,
    };
    parts.extensions.insert(ctx.clone());
    let body = tidegate_core::body::boxed(LengthLimited::new(body, limit));
    let request = Request::from_parts(parts, body);

    // 9. Through the stack, inside the request's span (the boundary log opens one span per
    //    upstream attempt within it; an OTLP exporter sees the whole tree).
    let span = tidegate_observe::trace::request_span(&ctx);
    match call_stack(route.service.clone(), request)
        .instrument(span)
        .await
    {
        Ok(mut response) => {
            strip_hop_by_hop(response.headers_mut());
            finish(response, None)
        }
        Err(err) => {
            let code = err.code();
            let response = Problem::from(&err).with_context(&ctx).into_response();
            finish(response, Some(code))
        }
    }
}

/// Drives the stack: readiness, then the call. (A plain fn with spelled-out types rather than
/// `ServiceExt::oneshot`, whose generic future trips the compiler's higher-ranked lifetime
/// inference inside `async` callers.)
async fn call_stack(
    mut service: ConnectorService,
    request: Request<Body>,
) -> Result<Response<Body>, tidegate_core::Error> {
    std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
    let future: std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response<Body>, tidegate_core::Error>> + Send>,
    > = service.call(request);
    future.await
}

/// `rest` (starting with `/`) plus the query, as an origin-form URI.
fn upstream_target(rest: &str, query: Option<&str>) -> Option<Uri> {
    let pq = match query {
        None => PathAndQuery::try_from(rest).ok()?,
        Some(q) => {
            let mut s = String::with_capacity(rest.len() + q.len() + 1);
            s.push_str(rest);
            s.push('?');
            s.push_str(q);
            PathAndQuery::try_from(s).ok()?
        }
    };
    Some(Uri::from(pq))
}

fn has_dot_segment(path: &str) -> bool {
    path.contains("/.") && path.split('/').any(|seg| seg == "." || seg == "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_keep_the_query() {
        assert_eq!(
            upstream_target("/a/b", Some("x=1&y=%20"))
                .unwrap()
                .to_string(),
            "/a/b?x=1&y=%20"
        );
        assert_eq!(upstream_target("/", None).unwrap().to_string(), "/");
    }

    #[test]
    fn dot_segments_are_detected() {
        assert!(has_dot_segment("/a/../b"));
        assert!(has_dot_segment("/a/./b"));
        assert!(has_dot_segment("/.."));
        assert!(!has_dot_segment("/a/.well-known/b"));
        assert!(!has_dot_segment("/a/b.json"));
    }
}
