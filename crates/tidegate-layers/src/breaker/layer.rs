use std::sync::Arc;

use tower::Layer;

use super::{BreakerRegistry, BreakerSettings, CircuitBreaker};

/// Guards a connector's upstream with a circuit breaker from `registry`.
/// See the [module docs](super).
#[derive(Clone, Debug)]
pub struct CircuitBreakerLayer {
    registry: BreakerRegistry,
    connector: Arc<str>,
    settings: Arc<BreakerSettings>,
}

impl CircuitBreakerLayer {
    /// A layer for `connector`. The connector-level breaker is registered at once, so it is
    /// listed (closed) by `/admin/breakers` before the first call.
    pub fn new(registry: &BreakerRegistry, connector: &str, settings: BreakerSettings) -> Self {
        let settings = Arc::new(settings);
        registry.get_or_create(connector, None, &settings);
        Self {
            registry: registry.clone(),
            connector: connector.into(),
            settings,
        }
    }
}

impl<S> Layer<S> for CircuitBreakerLayer {
    type Service = CircuitBreaker<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreaker::new(
            inner,
            &self.registry,
            Arc::clone(&self.connector),
            Arc::clone(&self.settings),
        )
    }
}
