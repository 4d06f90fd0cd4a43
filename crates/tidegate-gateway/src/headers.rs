//! Header hygiene between caller, gateway and upstream (RFC 9110 §7.6.1).
//!
//! Hop-by-hop headers describe one connection, not the message, so a proxy never forwards
//! them: `Connection` and every header it names, `Keep-Alive`, `Proxy-*`, `TE`, `Trailer`,
//! `Transfer-Encoding` and `Upgrade` (plus `Expect`, which hyper's client does not implement).
//! hyper re-frames bodies itself, so dropping `Transfer-Encoding` loses nothing.

use http::{HeaderMap, HeaderName, header};

/// The caller's account header (logged, never forwarded).
pub const X_INTEGRATED_ACCOUNT_ID: HeaderName = HeaderName::from_static("x-integrated-account-id");
/// Correlation id header.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

const FIXED_HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Whether `name` is hop-by-hop on its own (without looking at `Connection`'s list).
fn is_fixed_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "keep-alive" | "te" | "trailer" | "transfer-encoding" | "upgrade" | "expect"
    ) || name.as_str().starts_with("proxy-")
}

/// Removes every hop-by-hop header from `headers`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Fast path, taken by most messages: one pass over the (few) names present instead of a
    // hashed `remove` per hop-by-hop name. Headers named by `Connection` need `Connection`
    // itself, which this pass sees.
    if !headers.keys().any(is_fixed_hop_by_hop) {
        return;
    }
    // Headers named by `Connection` first (they are only known while `Connection` is there).
    // Allocation happens only when a caller actually sends such a list.
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in FIXED_HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(header::EXPECT);
    // Any other `Proxy-*` header (e.g. `Proxy-Status`, vendor extensions).
    if headers.keys().any(|k| k.as_str().starts_with("proxy-")) {
        let proxy: Vec<HeaderName> = headers
            .keys()
            .filter(|k| k.as_str().starts_with("proxy-"))
            .cloned()
            .collect();
        for name in proxy {
            headers.remove(name);
        }
    }
}

/// Prepares the caller's headers for the upstream: hop-by-hop headers, the caller's
/// `Authorization` (the gateway's own key) and `X-Integrated-Account-Id` go; `Host` is
/// rewritten by the connector's client.
pub fn sanitize_request(headers: &mut HeaderMap) {
    strip_hop_by_hop(headers);
    headers.remove(header::AUTHORIZATION);
    headers.remove(X_INTEGRATED_ACCOUNT_ID);
    headers.remove(header::HOST);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_hop_by_hop_and_connection_named_headers() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("connection", "keep-alive, X-Secret-Hop"),
            ("connection", "x-other"),
            ("x-secret-hop", "1"),
            ("x-other", "1"),
            ("keep-alive", "timeout=5"),
            ("proxy-authorization", "Basic x"),
            ("proxy-foo", "1"),
            ("te", "trailers"),
            ("trailer", "x-sum"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("authorization", "Bearer env-key"),
            ("x-integrated-account-id", "acc_1"),
            ("host", "gateway.local"),
            ("content-type", "application/json"),
            ("x-custom", "kept"),
        ] {
            h.append(HeaderName::from_static(k), v.parse().unwrap());
        }
        sanitize_request(&mut h);
        let mut left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(left, ["content-type", "x-custom"]);
    }

    #[test]
    fn messages_without_hop_by_hop_headers_keep_everything() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("content-type", "application/json"),
            ("x-custom", "kept"),
            ("x-proxy-note", "not a proxy- header"),
        ] {
            h.append(HeaderName::from_static(k), v.parse().unwrap());
        }
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 3);
        h.append(header::EXPECT, "100-continue".parse().unwrap());
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 3, "expect is removed");
        assert!(!h.contains_key(header::EXPECT));
    }
}
