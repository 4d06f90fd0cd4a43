//! Per-request context, carried in the request's extensions through every layer.

use std::sync::Arc;

/// Who is calling which upstream, for correlation in logs, problems, metrics and events.
///
/// Cheap to clone (shared strings). Inserted into `http::Request::extensions` by the gateway
/// (or by [`RequestContext::ensure`] for in-process callers) before the request enters a stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestContext {
    /// The caller's `X-Request-Id`, or a generated UUIDv7.
    pub request_id: Arc<str>,
    /// The connector (config table name) the request goes to.
    pub connector: Arc<str>,
    /// The environment of the caller's api key, when called through the gateway.
    pub environment: Option<Arc<str>>,
    /// The integrated account whose credentials are injected.
    pub account_id: Option<Arc<str>>,
}

impl RequestContext {
    /// A context with a fresh UUIDv7 request id.
    pub fn new(connector: impl Into<Arc<str>>) -> Self {
        Self {
            request_id: new_request_id().into(),
            connector: connector.into(),
            environment: None,
            account_id: None,
        }
    }

    /// Sets the integrated account.
    pub fn with_account(mut self, account_id: impl Into<Arc<str>>) -> Self {
        self.account_id = Some(account_id.into());
        self
    }

    /// Sets the environment.
    pub fn with_environment(mut self, environment: impl Into<Arc<str>>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// Sets the request id.
    pub fn with_request_id(mut self, request_id: impl Into<Arc<str>>) -> Self {
        self.request_id = request_id.into();
        self
    }

    /// The context of `req`, inserting a fresh one for `connector` when it has none.
    pub fn ensure<'a, B>(req: &'a mut http::Request<B>, connector: &str) -> &'a RequestContext {
        if req.extensions().get::<RequestContext>().is_none() {
            req.extensions_mut().insert(RequestContext::new(connector));
        }
        req.extensions()
            .get::<RequestContext>()
            .expect("inserted above")
    }

    /// The context of `req`, if any.
    pub fn of<B>(req: &http::Request<B>) -> Option<&RequestContext> {
        req.extensions().get::<RequestContext>()
    }
}

/// A new request id: a UUIDv7 (time-ordered), hyphenated, no prefix (CONTRACT §3).
pub fn new_request_id() -> String {
    uuid::Uuid::now_v7().hyphenated().to_string()
}

/// Whether a caller-supplied `X-Request-Id` is acceptable: 1..=128 visible ASCII characters.
pub fn is_valid_request_id(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= 128 && id.iter().all(|b| (0x21..=0x7e).contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_uuid_v7() {
        let id = new_request_id();
        let parsed = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(parsed.get_version_num(), 7);
        assert!(is_valid_request_id(id.as_bytes()));
    }

    #[test]
    fn request_id_validation() {
        assert!(is_valid_request_id(b"req_987654321"));
        assert!(!is_valid_request_id(b""));
        assert!(!is_valid_request_id(b"has space"));
        assert!(!is_valid_request_id(&[b'a'; 129]));
        assert!(is_valid_request_id(&[b'a'; 128]));
    }

    #[test]
    fn ensure_keeps_an_existing_context() {
        let mut req = http::Request::new(());
        req.extensions_mut()
            .insert(RequestContext::new("hubspot").with_request_id("abc"));
        assert_eq!(
            &*RequestContext::ensure(&mut req, "other").request_id,
            "abc"
        );
    }
}
