//! [`BoundaryLog`]: the service that records each exchange.

use std::{
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
    layer::Settings,
    record::{RequestRecord, format_timestamp},
};
use crate::{redact::BodyMode, trace};

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
        let ctx = RequestContext::of(&req).cloned();
        let attempt = settings
            .attempt
            .as_ref()
            .and_then(|read| read(req.extensions()))
            .unwrap_or(1);
        let sampled = settings.sample_rate > 0.0
            && (settings.sample_rate >= 1.0 || rand::random::<f64>() < settings.sample_rate);

        let headers = settings.redactor.headers(req.headers());
        let idempotency_key = settings
            .idempotency_key
            .as_ref()
            .and_then(|read| read(req.extensions()))
            .or_else(|| {
                let name = settings.idempotency_header.as_ref()?;
                let value = req.headers().get(name)?.to_str().ok()?;
                Some(value.to_owned())
            })
            .map(|key| settings.redactor.text(&key).into_owned());
        let request = RequestRecord {
            method: req.method().as_str().to_owned(),
            url: settings.redactor.url(&match &settings.url {
                Some(resolve) => resolve(req.uri()),
                None => req.uri().to_string(),
            }),
            headers: headers.headers,
            headers_redacted: headers.redacted,
            idempotency_key,
            body: None,
        };

        let (req, request_capture) = if sampled && settings.body_mode != BodyMode::None {
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
                Some(captured),
            )
        } else {
            (req, None)
        };

        let (request_id, connector) = match &ctx {
            Some(c) => (c.request_id.clone(), c.connector.clone()),
            None => (
                Arc::from(tidegate_core::context::new_request_id()),
                settings.connector.clone(),
            ),
        };
        let span = trace::attempt_span(&request_id, &connector, attempt);
        let pending = Pending {
            timestamp: format_timestamp(time::OffsetDateTime::now_utc()),
            started: Instant::now(),
            request_id,
            connector,
            environment: ctx.as_ref().and_then(|c| c.environment.clone()),
            account: ctx.as_ref().and_then(|c| c.account_id.clone()),
            attempt,
            sampled,
            request,
            request_capture,
            settings,
        };
        ResponseFuture::new(self.inner.call(req).instrument(span), pending)
    }
}
