use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use tidegate_core::{Body, Error, ErrorCode, body};
use tokio::time::Instant;
use tower::{
    Service, ServiceExt,
    retry::budget::{Budget, TpsBudget},
};

use super::{
    Attempt, ResponseFuture, RetrySettings,
    buffer::{Buffered, buffer, declared_length},
    is_replay_safe,
};
use crate::Deadline;

type AttemptFuture = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Error>> + Send>>;

/// Settings and budget shared by every clone of a connector's retry service.
#[derive(Debug)]
pub(super) struct Shared {
    settings: RetrySettings,
    budget: TpsBudget,
}

impl Shared {
    pub(super) fn new(settings: RetrySettings) -> Self {
        let percent = (settings.budget_percent / 100.0).clamp(0.0, 1000.0) as f32;
        let budget = TpsBudget::new(
            Duration::from_secs(10),
            settings.budget_min_per_sec.min(i32::MAX as u32 - 1),
            percent,
        );
        Self { settings, budget }
    }
}

/// The service of [`RetryLayer`](super::RetryLayer).
#[derive(Clone, Debug)]
pub struct Retry<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Retry<S> {
    /// Wraps `inner` with its own budget.
    pub fn new(inner: S, settings: RetrySettings) -> Self {
        Self::from_shared(inner, Arc::new(Shared::new(settings)))
    }

    pub(super) fn from_shared(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }
}

impl<S> Service<http::Request<Body>> for Retry<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Error>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let shared = &self.shared;
        shared.budget.deposit();
        let replayable = shared.settings.max_attempts > 1
            && is_replay_safe(&req)
            && declared_length(&req)
                .is_none_or(|len| len <= shared.settings.max_replay_body as u64);
        if !replayable {
            // Sent once: no `Attempt` extension (its absence means attempt 1), which spares
            // the request an extension allocation on the common path.
            return ResponseFuture::once(self.inner.call(req));
        }
        // The readied service takes the first attempt; a clone waits for later ones.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::retrying(Box::pin(run(ready, req, Arc::clone(shared))))
    }
}

async fn run<S>(
    mut svc: S,
    req: http::Request<Body>,
    shared: Arc<Shared>,
) -> Result<http::Response<Body>, Error>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Error>,
    S::Future: Send + 'static,
{
    // Boxing each attempt's future keeps the inner future type out of this async fn's state,
    // which sidesteps rustc's higher-ranked `Send` check on `dyn Error + 'static` bodies.
    fn boxed<F>(f: F) -> AttemptFuture
    where
        F: Future<Output = Result<http::Response<Body>, Error>> + Send + 'static,
    {
        Box::pin(f)
    }
    let settings = &shared.settings;
    let (parts, body) = req.into_parts();
    let template = http::Request::from_parts(parts, ());
    let bytes: Bytes = match buffer(body, settings.max_replay_body).await {
        Ok(Buffered::Complete(bytes)) => bytes,
        Ok(Buffered::Stream(body)) => {
            return boxed(svc.call(template.map(|()| body))).await;
        }
        Err(e) => {
            return Err(Error::new(
                ErrorCode::InvalidRequest,
                "the request body could not be read",
            )
            .with_source(e));
        }
    };
    let deadline = Deadline::of(&template);
    // Built on the first retry only: most calls never need it.
    let mut backoff = None;

    let mut attempt = 1u32;
    loop {
        let mut req = template.clone().map(|()| body::full(bytes.clone()));
        req.extensions_mut().insert(Attempt(attempt));
        let result = if attempt == 1 {
            boxed(svc.call(req)).await
        } else {
            match svc.ready().await {
                Ok(svc) => boxed(svc.call(req)).await,
                Err(e) => Err(e),
            }
        };

        let upstream_wait = match &result {
            Ok(response) if settings.on.status(response.status()) => retry_after(response),
            Err(e) if settings.on.error(e.code()) => None,
            _ => return result,
        };
        if attempt >= settings.max_attempts {
            return result;
        }
        let backoff = backoff.get_or_insert_with(|| {
            // backon is built without `std`, so its jitter needs an explicit seed; a
            // fixed seed would make every gateway replica back off in lock-step.
            backon::BackoffBuilder::build(
                backon::ExponentialBuilder::default()
                    .with_min_delay(settings.backoff_base)
                    .with_max_delay(settings.backoff_max)
                    .with_jitter()
                    .with_jitter_seed(rand::random())
                    .with_max_times(settings.max_attempts.saturating_sub(1) as usize),
            )
        });
        let Some(mut delay) = backoff.next() else {
            return result;
        };
        delay = delay.min(settings.backoff_max);
        if let Some(wait) = upstream_wait {
            delay = delay.max(wait);
        }
        if let Some(deadline) = deadline
            && Instant::now() + delay >= deadline
        {
            tracing::debug!(attempt, "retry would end past the deadline; not retrying");
            return result;
        }
        if !shared.budget.withdraw() {
            tracing::warn!(attempt, "retry budget exhausted; not retrying");
            return result;
        }
        tracing::debug!(
            attempt,
            delay_ms = delay.as_millis() as u64,
            reason = %match &result {
                Ok(r) => r.status().to_string(),
                Err(e) => e.code().to_string(),
            },
            "retrying"
        );
        drop(result);
        if let Some(ctx) = tidegate_core::RequestContext::of(&template) {
            tidegate_observe::metrics::retry_issued(&ctx.connector);
        }
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

/// An upstream's `Retry-After` (delta-seconds form) on a retryable status.
fn retry_after(response: &http::Response<Body>) -> Option<Duration> {
    let value = response.headers().get(http::header::RETRY_AFTER)?;
    let secs: u64 = value.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs))
}
