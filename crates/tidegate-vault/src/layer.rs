//! Credential injection for a connector stack.
//!
//! [`CredentialLayer`] reads the account from the request's [`RequestContext`], gets a valid
//! credential from the [`Vault`] (cached; refreshed and coalesced when expiring), injects it as
//! the connector's auth type prescribes, and, when the upstream answers 401 to an OAuth token,
//! forces one refresh and retries once — only if the request body is small enough to replay.
//!
//! ```no_run
//! # async fn demo(vault: tidegate_vault::Vault) {
//! use tower::{ServiceBuilder, service_fn};
//! use tidegate_core::{Body, Error, RequestContext, body};
//! use tidegate_vault::{ConnectorAuth, layer::CredentialLayer};
//!
//! let upstream = service_fn(|_req: http::Request<Body>| async {
//!     Ok::<_, Error>(http::Response::new(body::empty()))
//! });
//! let auth = vault.connector_auth("crm").cloned().unwrap_or(ConnectorAuth::None);
//! let svc = ServiceBuilder::new().layer(CredentialLayer::new(vault, "crm", auth)).service(upstream);
//! # let _ = svc;
//! # }
//! ```
//!
//! Errors (as [`tidegate_core::Error`]): `unknown_account` (missing/unknown account, or one of
//! another connector or environment), `needs_reauth` (grant revoked; the provider is not
//! called), `token_refresh_failed` (retryable token-endpoint failure).

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::Body as _;
use http_body_util::BodyExt;
use tidegate_core::{Body, Error, ErrorCode, RequestContext};
use tower::{Layer, Service};

use crate::{ConnectorAuth, Vault};

/// Bodies up to this size are buffered so a 401 can be retried after a refresh.
pub const DEFAULT_MAX_REPLAY_BODY: u64 = 64 * 1024;

/// Injects the account's credential into each request. See the module docs.
#[derive(Clone, Debug)]
pub struct CredentialLayer {
    vault: Vault,
    connector: Arc<str>,
    auth: Arc<ConnectorAuth>,
    max_replay_body: u64,
}

impl CredentialLayer {
    /// A layer for `connector`, injecting per `auth`.
    pub fn new(vault: Vault, connector: impl Into<Arc<str>>, auth: ConnectorAuth) -> Self {
        Self {
            vault,
            connector: connector.into(),
            auth: Arc::new(auth),
            max_replay_body: DEFAULT_MAX_REPLAY_BODY,
        }
    }

    /// Largest request body buffered for a refresh-and-retry (default 64 KiB). Larger or
    /// unknown-length bodies stream through, and a 401 is passed back as is.
    pub fn max_replay_body(mut self, bytes: u64) -> Self {
        self.max_replay_body = bytes;
        self
    }
}

impl<S> Layer<S> for CredentialLayer {
    type Service = Credentials<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Credentials {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`CredentialLayer`].
#[derive(Clone, Debug)]
pub struct Credentials<S> {
    inner: S,
    layer: CredentialLayer,
}

/// The response future of [`Credentials`].
pub struct ResponseFuture {
    inner: Pin<Box<dyn Future<Output = Result<http::Response<Body>, Error>> + Send>>,
}

impl Future for ResponseFuture {
    type Output = Result<http::Response<Body>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<S> Service<http::Request<Body>> for Credentials<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Error>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Error;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> ResponseFuture {
        // The clone takes the readiness reserved by poll_ready along with it.
        let clone = self.inner.clone();
        let svc = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        ResponseFuture {
            inner: Box::pin(inject_and_call(svc, layer, req)),
        }
    }
}

async fn inject_and_call<S>(
    mut svc: S,
    layer: CredentialLayer,
    mut req: http::Request<Body>,
) -> Result<http::Response<Body>, Error>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Error>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    if matches!(*layer.auth, ConnectorAuth::None) {
        return call_boxed(&mut svc, req).await;
    }
    let (account, environment) = match RequestContext::of(&req) {
        Some(ctx) => (ctx.account_id.clone(), ctx.environment.clone()),
        None => (None, None),
    };
    let Some(account) = account else {
        return Err(Error::new(
            ErrorCode::UnknownAccount,
            "X-Integrated-Account-Id is required for this connector",
        ));
    };
    let cred = layer
        .vault
        .credential(&account, &layer.connector, environment.as_deref())
        .await?;
    inject(&cred, &layer.auth, &mut req)?;

    let replayable = cred.is_oauth2()
        && req
            .body()
            .size_hint()
            .upper()
            .is_some_and(|n| n <= layer.max_replay_body);
    if !replayable {
        return call_boxed(&mut svc, req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes: Bytes = body
        .collect()
        .await
        .map_err(|e| {
            Error::new(ErrorCode::InvalidRequest, "request body could not be read").with_source(e)
        })?
        .to_bytes();
    let first = rebuild(&parts, bytes.clone());
    let resp = call_boxed(&mut svc, first).await?;
    if resp.status() != http::StatusCode::UNAUTHORIZED {
        return Ok(resp);
    }
    // One forced refresh (coalesced; skipped if someone already replaced this token) and one retry.
    let fresh = match layer.vault.refresh_after_rejection(&cred).await {
        Ok(fresh) => fresh,
        Err(e @ crate::VaultError::NeedsReauth { .. }) => return Err(e.into()),
        Err(e) => {
            tracing::warn!(account = %account, error = %e, "refresh after upstream 401 failed; passing the 401 through");
            return Ok(resp);
        }
    };
    drop(resp);
    let mut retry = rebuild(&parts, bytes);
    inject(&fresh, &layer.auth, &mut retry)?;
    ready_boxed(&mut svc).await?;
    call_boxed(&mut svc, retry).await
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Calls `svc`, boxing its future right away: naming `S::Future` inside the async fn trips a
/// rustc limitation ("Send is not general enough") with the boxed-error body type.
fn call_boxed<S>(
    svc: &mut S,
    req: http::Request<Body>,
) -> BoxFuture<Result<http::Response<Body>, Error>>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Error>,
    S::Future: Send + 'static,
{
    Box::pin(svc.call(req))
}

/// Waits until `svc` is ready (for the retry, which needs its own readiness).
fn ready_boxed<S>(svc: &mut S) -> impl Future<Output = Result<(), Error>> + Send + '_
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Error> + Send,
{
    std::future::poll_fn(move |cx| svc.poll_ready(cx))
}

fn inject(
    cred: &crate::Credential,
    auth: &ConnectorAuth,
    req: &mut http::Request<Body>,
) -> Result<(), Error> {
    cred.inject(auth, req)
        .map_err(|e| Error::new(ErrorCode::InternalError, e.to_string()))
}

fn rebuild(parts: &http::request::Parts, bytes: Bytes) -> http::Request<Body> {
    let mut req = http::Request::new(tidegate_core::body::full(bytes));
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    *req.version_mut() = parts.version;
    *req.headers_mut() = parts.headers.clone();
    *req.extensions_mut() = parts.extensions.clone();
    req
}
