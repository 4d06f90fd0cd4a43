//! `tracing` spans for requests and upstream attempts.
//!
//! Span fields are a closed set: request id, connector, environment, attempt. Never a header,
//! a URL, an account credential or a body, so any subscriber (stdout, OTLP) is safe to attach.
//!
//! ```
//! let ctx = tidegate_core::RequestContext::new("hubspot");
//! let span = tidegate_observe::trace::request_span(&ctx);
//! let _entered = span.enter();
//! ```

use tidegate_core::RequestContext;
use tracing::Span;

/// The span of one caller request (created by the gateway or an in-process client).
pub fn request_span(ctx: &RequestContext) -> Span {
    tracing::info_span!(
        "tidegate.request",
        request_id = %ctx.request_id,
        connector = %ctx.connector,
        environment = ctx.environment.as_deref().unwrap_or(""),
    )
}

/// The span of one upstream attempt (created by the boundary-log layer).
pub fn attempt_span(request_id: &str, connector: &str, attempt: u32) -> Span {
    tracing::info_span!(
        "tidegate.upstream_attempt",
        request_id = %request_id,
        connector = %connector,
        attempt = attempt,
    )
}

/// Where traces go, beside the `tracing` output on stderr.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceSettings {
    /// An OTLP/HTTP traces endpoint (e.g. `http://127.0.0.1:4318/v1/traces`); `None`: no export.
    /// Needs the `otel` cargo feature.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// The environment variable holding `tracing` filter directives; `None`: `RUST_LOG`.
    /// (The `tidegate` binary uses `TIDEGATE_LOG`.)
    pub filter_env: Option<String>,
    /// Directives used when that variable is unset or invalid; `None`: `info`.
    pub default_filter: Option<String>,
}

/// Why tracing could not be set up.
#[derive(Debug)]
pub struct TraceInitError(String);

impl std::fmt::Display for TraceInitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TraceInitError {}

/// Flushes exported spans when dropped (keep it alive for the life of the process).
#[must_use = "dropping the guard stops the exporter"]
pub struct TraceGuard {
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl std::fmt::Debug for TraceGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceGuard").finish_non_exhaustive()
    }
}

impl Drop for TraceGuard {
    fn drop(&mut self) {
        #[cfg(feature = "otel")]
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("tidegate: flushing OTLP spans failed: {e}");
        }
    }
}

/// Installs the global `tracing` subscriber: diagnostics to stderr without colour codes
/// (filtered by `settings.filter_env`, default `RUST_LOG`, falling back to
/// `settings.default_filter`, default `info`), plus span export over OTLP/HTTP when
/// `settings.otlp_endpoint` is set.
///
/// Spans reach stderr only when the filter lets `debug` through (see [`stderr_filter`]):
/// there they are context for debugging, and at the default `info` level they would cost every
/// request the formatting of two spans' fields that no line ever shows. The OTLP exporter gets
/// every span the filter allows, whatever the level.
///
/// An endpoint in a build without the `otel` feature is an error, not a silent no-op.
pub fn init(settings: &TraceSettings) -> Result<TraceGuard, TraceInitError> {
    use tracing_subscriber::{
        EnvFilter, Layer, fmt, layer::SubscriberExt, util::SubscriberInitExt,
    };

    let directives = || {
        EnvFilter::try_from_env(settings.filter_env.as_deref().unwrap_or("RUST_LOG"))
            .unwrap_or_else(|_| {
                EnvFilter::new(settings.default_filter.as_deref().unwrap_or("info"))
            })
    };
    let stderr = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_filter(stderr_filter(directives()));
    let registry = tracing_subscriber::registry().with(stderr);

    match settings.otlp_endpoint.as_deref() {
        None => {
            registry
                .try_init()
                .map_err(|e| TraceInitError(e.to_string()))?;
            Ok(TraceGuard {
                #[cfg(feature = "otel")]
                provider: None,
            })
        }
        #[cfg(feature = "otel")]
        Some(endpoint) => {
            let (layer, provider) = otel::layer(endpoint, &settings.service_name)?;
            registry
                .with(layer.with_filter(directives()))
                .try_init()
                .map_err(|e| TraceInitError(e.to_string()))?;
            Ok(TraceGuard {
                provider: Some(provider),
            })
        }
        #[cfg(not(feature = "otel"))]
        Some(_) => Err(TraceInitError(
            "an OTLP endpoint is configured but this build has no `otel` feature".into(),
        )),
    }
}

/// The stderr log's filter: `filter`'s directives, and spans only when they let `debug` through
/// somewhere (somebody is debugging and wants each line's request and attempt context).
fn stderr_filter<S>(
    filter: tracing_subscriber::EnvFilter,
) -> impl tracing_subscriber::layer::Filter<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing_subscriber::filter::FilterExt;
    let spans = filter
        .max_level_hint()
        .is_none_or(|max| max >= tracing::level_filters::LevelFilter::DEBUG);
    filter.and(without_spans_unless(spans))
}

/// A per-layer filter that drops every span unless `spans`; events pass. Decided per callsite
/// (once), so a dropped span costs a request nothing but the callsite's cached "never".
fn without_spans_unless(
    spans: bool,
) -> tracing_subscriber::filter::FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
    tracing_subscriber::filter::filter_fn(move |meta: &tracing::Metadata<'_>| {
        spans || !meta.is_span()
    })
}

#[cfg(feature = "otel")]
mod otel {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{SpanExporter, WithExportConfig};
    use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};

    use super::TraceInitError;

    pub(super) fn layer<S>(
        endpoint: &str,
        service_name: &str,
    ) -> Result<
        (
            tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>,
            SdkTracerProvider,
        ),
        TraceInitError,
    >
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        let exporter = SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint)
            .build()
            .map_err(|e| TraceInitError(format!("OTLP exporter: {e}")))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                Resource::builder()
                    .with_service_name(service_name.to_owned())
                    .build(),
            )
            .build();
        let tracer = provider.tracer("tidegate");
        Ok((tracing_opentelemetry::layer().with_tracer(tracer), provider))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What reached a layer behind [`stderr_filter`]: span names and event counts.
    fn seen_through_stderr_filter(directives: &str) -> (Vec<&'static str>, usize) {
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::{Layer, layer::SubscriberExt};

        #[derive(Clone, Default)]
        struct Seen(Arc<Mutex<(Vec<&'static str>, usize)>>);
        impl<S: tracing::Subscriber> Layer<S> for Seen {
            fn on_new_span(
                &self,
                attrs: &tracing::span::Attributes<'_>,
                _: &tracing::span::Id,
                _: tracing_subscriber::layer::Context<'_, S>,
            ) {
                self.0.lock().unwrap().0.push(attrs.metadata().name());
            }
            fn on_event(
                &self,
                _: &tracing::Event<'_>,
                _: tracing_subscriber::layer::Context<'_, S>,
            ) {
                self.0.lock().unwrap().1 += 1;
            }
        }

        let seen = Seen::default();
        let filter = tracing_subscriber::EnvFilter::new(directives);
        let subscriber =
            tracing_subscriber::registry().with(seen.clone().with_filter(stderr_filter(filter)));
        tracing::subscriber::with_default(subscriber, || {
            let ctx = RequestContext::new("hubspot");
            let request = request_span(&ctx);
            let _in_request = request.enter();
            let _attempt = attempt_span("req-1", "hubspot", 1).entered();
            tracing::info!("an info event inside both spans");
            tracing::debug!("a debug event");
        });
        let seen = seen.0.lock().unwrap();
        (seen.0.clone(), seen.1)
    }

    #[test]
    fn at_info_the_stderr_log_gets_events_but_no_spans() {
        assert_eq!(seen_through_stderr_filter("info"), (vec![], 1));
        assert_eq!(seen_through_stderr_filter("warn"), (vec![], 0));
    }

    #[test]
    fn with_debug_directives_the_stderr_log_gets_the_spans_too() {
        let spans = vec!["tidegate.request", "tidegate.upstream_attempt"];
        assert_eq!(seen_through_stderr_filter("debug"), (spans.clone(), 2));
        // Debugging one module is enough to want the context.
        assert_eq!(
            seen_through_stderr_filter("info,tidegate_observe=debug"),
            (spans, 2)
        );
    }

    #[cfg(feature = "otel")]
    #[test]
    fn the_otlp_layer_builds_and_shuts_down() {
        let (_layer, provider) =
            otel::layer::<tracing_subscriber::Registry>("http://127.0.0.1:9/v1/traces", "tidegate")
                .unwrap();
        // Nothing was recorded, so shutting down exports nothing and needs no collector.
        provider.shutdown().unwrap();
    }

    /// A span really reaches an OTLP/HTTP collector (a one-request HTTP listener here): the
    /// exporter runs on the SDK's own thread, outside any async runtime.
    #[cfg(feature = "otel")]
    #[test]
    fn spans_reach_an_otlp_http_collector() {
        use std::io::{Read, Write};
        use tracing_subscriber::layer::SubscriberExt;

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 8192];
            loop {
                let n = stream.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let len: usize = text[..head_end]
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    if got.len() >= head_end + 4 + len {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
            tx.send(got).unwrap();
        });

        let (layer, provider) = otel::layer::<tracing_subscriber::Registry>(
            &format!("http://{addr}/v1/traces"),
            "tidegate-test",
        )
        .unwrap();
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let ctx = tidegate_core::RequestContext::new("otlp-check");
            let _span = request_span(&ctx).entered();
        });
        provider.shutdown().unwrap();
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the collector received no export");
        assert!(
            got.starts_with(b"POST /v1/traces"),
            "{}",
            String::from_utf8_lossy(&got)
        );
        assert!(
            got.windows(b"tidegate.request".len())
                .any(|w| w == b"tidegate.request"),
            "the span is in the export"
        );
    }

    #[cfg(not(feature = "otel"))]
    #[test]
    fn an_endpoint_without_the_feature_is_an_error() {
        let err = init(&TraceSettings {
            otlp_endpoint: Some("http://127.0.0.1:4318/v1/traces".into()),
            service_name: "tidegate".into(),
            ..TraceSettings::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("otel"));
    }
}
