//! Header hygiene between caller, gateway and upstream (RFC 9110 §7.6.1).
//!
//! Hop-by-hop headers describe one connection, not the message, so a proxy never forwards
//! them: `Connection` and every header it names, `Keep-Alive`, `Proxy-*`, `TE`, `Trailer`,
//! `Transfer-Encoding` and `Upgrade` (plus `Expect`, which hyper's client does not implement).
//! hyper re-frames bodies itself, so dropping `Transfer-Encoding` loses nothing.

use http::{HeaderMap, HeaderName, HeaderValue, header};

/// The caller's account header (logged, never forwarded).
pub const X_INTEGRATED_ACCOUNT_ID: HeaderName = HeaderName::from_static("x-integrated-account-id");
/// Correlation id header.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Whether `name` is hop-by-hop on its own (without looking at `Connection`'s list).
fn is_fixed_hop_by_hop(name: &HeaderName) -> bool {
    is_fixed_hop_by_hop_name(name.as_str())
}

/// [`is_fixed_hop_by_hop`] for a name in any case (a `Connection` list's tokens).
fn is_fixed_hop_by_hop_name(name: &str) -> bool {
    [
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
    ]
    .iter()
    .any(|fixed| name.eq_ignore_ascii_case(fixed))
        || name
            .get(..6)
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case("proxy-"))
}

/// Removes every hop-by-hop header from `headers`.
///
/// Runs twice per proxied request, so it allocates nothing: most messages carry no hop-by-hop
/// header at all (one scan of the few names present), and the common one that does, an
/// upstream's `Connection: keep-alive`, costs one value clone and two scans (`keep-alive`
/// names a fixed hop-by-hop header, which the fixed pass removes anyway).
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if !headers.keys().any(is_fixed_hop_by_hop) {
        return;
    }
    // Headers named by `Connection` first (they are only known while `Connection` is there).
    let mut values = headers.get_all(header::CONNECTION).iter();
    match (values.next().cloned(), values.next().is_some()) {
        (Some(only), false) => remove_listed(headers, &only),
        (Some(_), true) => {
            let all: Vec<HeaderValue> = headers
                .get_all(header::CONNECTION)
                .iter()
                .cloned()
                .collect();
            for value in &all {
                remove_listed(headers, value);
            }
        }
        (None, _) => {}
    }
    // Then the fixed names and any `Proxy-*` header (e.g. `Proxy-Status`), one at a time:
    // messages carry a handful of headers, so rescanning beats collecting.
    while let Some(name) = headers.keys().find(|k| is_fixed_hop_by_hop(k)).cloned() {
        headers.remove(&name);
    }
}

/// Removes the headers a `Connection` value lists (`close` names no header; a fixed
/// hop-by-hop name such as `keep-alive` is left to the fixed pass, without a lookup here).
fn remove_listed(headers: &mut HeaderMap, connection: &HeaderValue) {
    let Ok(list) = connection.to_str() else {
        return;
    };
    for token in list.split(',').map(str::trim) {
        if !token.is_empty()
            && !token.eq_ignore_ascii_case("close")
            && !is_fixed_hop_by_hop_name(token)
        {
            // An invalid name simply matches nothing.
            headers.remove(token);
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

    fn map(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_static(k), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn strips_hop_by_hop_and_connection_named_headers() {
        let mut h = map(&[
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
        ]);
        sanitize_request(&mut h);
        let mut left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(left, ["content-type", "x-custom"]);
    }

    #[test]
    fn messages_without_hop_by_hop_headers_keep_everything() {
        let mut h = map(&[
            ("content-type", "application/json"),
            ("x-custom", "kept"),
            ("x-proxy-note", "not a proxy- header"),
        ]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 3);
        h.append(header::EXPECT, "100-continue".parse().unwrap());
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 3, "expect is removed");
        assert!(!h.contains_key(header::EXPECT));
    }

    #[test]
    fn connection_lists_with_odd_tokens_are_handled() {
        let mut h = map(&[
            ("connection", "close, , x-a ,bad name,X-B"),
            ("x-a", "1"),
            ("x-b", "1"),
            ("x-c", "kept"),
            ("proxy-status", "x"),
            ("expect", "100-continue"),
        ]);
        strip_hop_by_hop(&mut h);
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["x-c"]);
    }

    #[test]
    fn a_lone_keep_alive_connection_goes_and_what_it_names_still_does() {
        for value in ["keep-alive", "Keep-Alive", "close", " keep-alive , close"] {
            let mut h = map(&[("connection", value), ("date", "x"), ("x-keep", "1")]);
            strip_hop_by_hop(&mut h);
            let mut left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
            left.sort();
            assert_eq!(left, ["date", "x-keep"], "{value:?}");
        }
        // Anything else named in the list is removed with it (not the fast path).
        let mut h = map(&[
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "1"),
            ("x-keep", "1"),
        ]);
        strip_hop_by_hop(&mut h);
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["x-keep"]);
    }
}
