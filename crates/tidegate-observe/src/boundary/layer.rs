//! [`BoundaryLogLayer`]: the configuration of a boundary-log service.

use std::sync::Arc;

use http::{Extensions, HeaderName};
use tower::Layer;

use super::{
    service::BoundaryLog,
    url::{EscapedBase, UrlBase},
};
use crate::{
    ratelimit::{RateLimitReader, standard_reader},
    redact::{BodyMode, Redactor},
    sink::LogSink,
};

/// Reads the attempt number (1-based) a retry layer put in the request's extensions.
pub type AttemptReader = Arc<dyn Fn(&Extensions) -> Option<u32> + Send + Sync>;

/// Turns the request URI seen by the layer into the URL actually sent (e.g. joins a relative
/// URI onto the connector's `base_url` when the HTTP client does that join).
pub type UrlResolver = Arc<dyn Fn(&http::Uri) -> String + Send + Sync>;

/// Reads the idempotency key an idempotency layer put in the request's extensions.
pub type IdempotencyKeyReader = Arc<dyn Fn(&Extensions) -> Option<String> + Send + Sync>;

/// Wraps a service (the HTTP client) so that every exchange writes one boundary-log line.
#[derive(Clone)]
pub struct BoundaryLogLayer {
    pub(super) settings: Arc<Settings>,
}

pub(super) struct Settings {
    pub(super) sink: LogSink,
    pub(super) redactor: Redactor,
    pub(super) sample_rate: f64,
    pub(super) body_mode: BodyMode,
    pub(super) connector: Arc<str>,
    pub(super) upstream_request_id_header: Option<HeaderName>,
    pub(super) idempotency_header: Option<HeaderName>,
    pub(super) rate_limit: RateLimitReader,
    pub(super) attempt: Option<AttemptReader>,
    pub(super) idempotency_key: Option<IdempotencyKeyReader>,
    pub(super) url: UrlSource,
}

/// Where the logged URL comes from.
#[derive(Clone)]
pub(super) enum UrlSource {
    /// The request URI as it is.
    AsIs,
    /// [`BoundaryLogLayer::url_resolver`].
    Resolver(UrlResolver),
    /// [`BoundaryLogLayer::url_base`].
    Base(EscapedBase),
}

impl Clone for Settings {
    fn clone(&self) -> Self {
        Settings {
            sink: self.sink.clone(),
            redactor: self.redactor.clone(),
            sample_rate: self.sample_rate,
            body_mode: self.body_mode.clone(),
            connector: self.connector.clone(),
            upstream_request_id_header: self.upstream_request_id_header.clone(),
            idempotency_header: self.idempotency_header.clone(),
            rate_limit: self.rate_limit.clone(),
            attempt: self.attempt.clone(),
            idempotency_key: self.idempotency_key.clone(),
            url: self.url.clone(),
        }
    }
}

impl std::fmt::Debug for BoundaryLogLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundaryLogLayer")
            .field("connector", &self.settings.connector)
            .field("sample_rate", &self.settings.sample_rate)
            .field("body_mode", &self.settings.body_mode)
            .finish_non_exhaustive()
    }
}

impl BoundaryLogLayer {
    /// Lines go to `sink`, redacted by `redactor`. Defaults: no body sampling (bodies of error
    /// responses only), [`BodyMode::Redacted`], the `Idempotency-Key` header, the standard
    /// rate-limit headers, attempt 1 unless [`attempt_from`](Self::attempt_from) says otherwise.
    pub fn new(sink: LogSink, redactor: Redactor) -> Self {
        BoundaryLogLayer {
            settings: Arc::new(Settings {
                sink,
                redactor,
                sample_rate: 0.0,
                body_mode: BodyMode::Redacted,
                connector: Arc::from("unknown"),
                upstream_request_id_header: None,
                idempotency_header: Some(HeaderName::from_static("idempotency-key")),
                rate_limit: standard_reader(),
                attempt: None,
                idempotency_key: None,
                url: UrlSource::AsIs,
            }),
        }
    }

    fn with(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        change(Arc::make_mut(&mut self.settings));
        self
    }

    /// The connector name used when a request carries no `RequestContext`.
    pub fn connector(self, name: impl Into<Arc<str>>) -> Self {
        let name = name.into();
        self.with(|s| s.connector = name)
    }

    /// The share (0..=1) of exchanges whose bodies are logged (`logging.body_sample_rate`).
    pub fn sample_rate(self, rate: f64) -> Self {
        let rate = if rate.is_finite() {
            rate.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.with(|s| s.sample_rate = rate)
    }

    /// How bodies may appear (the connector's `logging.body`).
    pub fn body_mode(self, mode: BodyMode) -> Self {
        self.with(|s| s.body_mode = mode)
    }

    /// The upstream's request-id header (the connector's `request_id_header`).
    ///
    /// # Panics
    /// When `name` is not a valid header name (config validation rejects those first).
    pub fn upstream_request_id_header(self, name: &str) -> Self {
        let name = HeaderName::try_from(name).expect("a valid header name");
        self.with(|s| s.upstream_request_id_header = Some(name))
    }

    /// The header that carries the idempotency key upstream (the connector's
    /// `idempotency.header`); `None` to read it only from extensions.
    ///
    /// # Panics
    /// When `name` is not a valid header name.
    pub fn idempotency_header(self, name: Option<&str>) -> Self {
        let name = name.map(|n| HeaderName::try_from(n).expect("a valid header name"));
        self.with(|s| s.idempotency_header = name)
    }

    /// Replaces the rate-limit reader (e.g. with the connector's mapping).
    pub fn rate_limit_reader(self, reader: RateLimitReader) -> Self {
        self.with(|s| s.rate_limit = reader)
    }

    /// How to read the attempt number from request extensions (the retry layer's type).
    pub fn attempt_from(
        self,
        reader: impl Fn(&Extensions) -> Option<u32> + Send + Sync + 'static,
    ) -> Self {
        let reader: AttemptReader = Arc::new(reader);
        self.with(|s| s.attempt = Some(reader))
    }

    /// How to read the idempotency key from request extensions (the idempotency layer's type);
    /// consulted before the header.
    pub fn idempotency_key_from(
        self,
        reader: impl Fn(&Extensions) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        let reader: IdempotencyKeyReader = Arc::new(reader);
        self.with(|s| s.idempotency_key = Some(reader))
    }
}

impl BoundaryLogLayer {
    /// How to turn the request URI into the URL sent upstream (before redaction); by default
    /// the URI as it is.
    pub fn url_resolver(
        self,
        resolve: impl Fn(&http::Uri) -> String + Send + Sync + 'static,
    ) -> Self {
        let resolve: UrlResolver = Arc::new(resolve);
        self.with(|s| s.url = UrlSource::Resolver(resolve))
    }

    /// The URL sent upstream is `base` joined with the request's path and query (see
    /// [`UrlBase`]): the same URL as a resolver calling [`UrlBase::url`], for less per
    /// exchange (the base is redacted and escaped here, once).
    pub fn url_base(self, base: &UrlBase) -> Self {
        self.with(|s| s.url = UrlSource::Base(base.escaped(&s.redactor)))
    }
}

impl<S> Layer<S> for BoundaryLogLayer {
    type Service = BoundaryLog<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BoundaryLog::new(inner, self.settings.clone())
    }
}
