use std::{
    sync::Arc,
    task::{Context, Poll},
};

use http::HeaderValue;
use tower::Service;

use super::{IdempotencyKey, IdempotencySettings};

/// The service of [`IdempotencyLayer`](super::IdempotencyLayer). The header rewrite is
/// synchronous, so the inner future is returned as is.
#[derive(Clone, Debug)]
pub struct Idempotency<S> {
    inner: S,
    settings: Arc<IdempotencySettings>,
}

impl<S> Idempotency<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, settings: Arc<IdempotencySettings>) -> Self {
        Self { inner, settings }
    }
}

impl<S, B> Service<http::Request<B>> for Idempotency<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        apply(&self.settings, &mut req);
        self.inner.call(req)
    }
}

fn apply<B>(settings: &IdempotencySettings, req: &mut http::Request<B>) {
    let caller_key = req.headers_mut().remove(&settings.caller_header);
    let Some(header) = &settings.header else {
        return; // no provider support: no key, so writes stay un-retried
    };
    let key = match caller_key.or_else(|| req.headers_mut().remove(header)) {
        Some(value) => match unquote(&value) {
            Some(key) => key,
            None => {
                tracing::debug!("caller's idempotency key is not visible ASCII; dropping it");
                return;
            }
        },
        None if settings.methods.contains(req.method()) => new_key(),
        None => return,
    };
    if let Ok(value) = HeaderValue::from_str(&key) {
        req.headers_mut().insert(header.clone(), value);
        req.extensions_mut().insert(IdempotencyKey(key.into()));
    }
}

/// A key as providers take it: the raw string, also when written as an sf-string (`"abc"`).
fn unquote(value: &HeaderValue) -> Option<String> {
    let raw = value.to_str().ok()?.trim();
    let key = match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => raw.to_owned(),
    };
    (!key.is_empty()).then_some(key)
}

/// A fresh UUIDv7 key: the current Unix milliseconds and 74 random bits from the thread-local
/// CSPRNG (`uuid::Uuid::now_v7` reads the OS RNG on every call, a syscall per write request).
/// Keys need uniqueness, not strict ordering, so no per-process counter is kept.
fn new_key() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let random: [u8; 10] = rand::random();
    uuid::Builder::from_unix_timestamp_millis(millis, &random)
        .into_uuid()
        .hyphenated()
        .to_string()
}
