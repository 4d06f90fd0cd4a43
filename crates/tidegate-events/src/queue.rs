//! The producer side of delivery: seals an [`Event`] under a fresh data key and puts it in the
//! durable queue, so it survives a restart. Nothing is delivered from here; a
//! [`crate::delivery::DeliveryWorker`] does that.

use std::{collections::HashMap, sync::Arc};

use tokio::sync::Notify;

use crate::{
    Clock, Envelope, Event, Signer,
    policy::DeliveryPolicy,
    store::{EventStore, NewQueued, StoreError},
};

/// Where one environment's events go.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The environment's `webhook_url`.
    pub url: String,
    /// Its signing secrets.
    pub signer: Signer,
}

/// Endpoints by environment name. Environments without a `webhook_url` are absent.
pub type Endpoints = HashMap<String, Endpoint>;

/// Associated data binding a queue row's ciphertext to its event id.
pub(crate) fn queue_aad(id: &str) -> Vec<u8> {
    format!("tidegate-event:{id}").into_bytes()
}

/// What happened to a published event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Published {
    /// Queued for delivery.
    Queued {
        /// The event id.
        id: String,
    },
    /// The environment has no `webhook_url`: nothing to deliver to, nothing stored.
    NoEndpoint,
    /// This record version is already in the delivered-versions ledger (the other path, or
    /// an earlier run, announced it): nothing queued. See [`crate::ledger`].
    AlreadyDelivered,
}

/// Enqueues events. Cheap to clone.
#[derive(Clone, Debug)]
pub struct EventQueue {
    store: EventStore,
    envelope: Envelope,
    policy: Arc<DeliveryPolicy>,
    endpoints: Arc<Endpoints>,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
}

impl EventQueue {
    /// A queue over `store`, sealing with `envelope`.
    pub fn new(
        store: EventStore,
        envelope: Envelope,
        policy: DeliveryPolicy,
        endpoints: Endpoints,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            envelope,
            policy: Arc::new(policy),
            endpoints: Arc::new(endpoints),
            clock,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Seals and stores `event`; wakes local workers.
    pub async fn publish(&self, event: &Event) -> Result<Published, StoreError> {
        if !self.endpoints.contains_key(&event.environment) {
            tracing::debug!(target: "tidegate::events", event_id = %event.id,
                environment = %event.environment, "no webhook_url for environment; event dropped");
            return Ok(Published::NoEndpoint);
        }
        let body = event.to_body();
        let sealed = self.envelope.seal(&queue_aad(&event.id), &body);
        let now = self.clock.now_ms();
        let first = self
            .policy
            .delay_before(0, &mut rand::rng())
            .unwrap_or_default();
        self.store
            .enqueue(&NewQueued {
                id: event.id.clone(),
                environment: event.environment.clone(),
                event_type: event.event_type.as_str().to_owned(),
                created_at: now,
                wrapped_key: sealed.wrapped_key,
                sealed: sealed.ciphertext,
                next_attempt_at: now + first.as_millis() as i64,
                expires_at: now + self.policy.pending_ttl().as_millis() as i64,
            })
            .await?;
        self.wake.notify_waiters();
        Ok(Published::Queued {
            id: event.id.clone(),
        })
    }

    /// The store.
    pub fn store(&self) -> &EventStore {
        &self.store
    }

    pub(crate) fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    pub(crate) fn policy(&self) -> &Arc<DeliveryPolicy> {
        &self.policy
    }

    pub(crate) fn endpoints(&self) -> &Arc<Endpoints> {
        &self.endpoints
    }

    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub(crate) fn wake(&self) -> &Arc<Notify> {
        &self.wake
    }
}
