//! Turning facts into queued events: `record.changed` (with the claim check for payloads over
//! `inline_limit`) and `account.*`. Used by the inbound webhook pipeline, reconciliation and
//! the vault's event sink.

use serde_json::Value;

use crate::{
    Event, EventType, RecordSource,
    claim::{ClaimCheck, ClaimError},
    queue::{EventQueue, Published},
    store::StoreError,
};

/// Why an event could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The queue's store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The claim-check store failed.
    #[error(transparent)]
    Claim(#[from] ClaimError),
}

/// A changed record to announce.
#[derive(Clone, Copy, Debug)]
pub struct RecordChange<'a> {
    /// Target environment (from the account).
    pub environment: &'a str,
    /// Connector name.
    pub connector: &'a str,
    /// Integrated account id.
    pub account_id: Option<&'a str>,
    /// `data.object`.
    pub object: Option<&'a str>,
    /// `data.id`.
    pub id: Option<&'a str>,
    /// `data.version`.
    pub version: Option<&'a str>,
    /// Webhook or reconciliation.
    pub source: RecordSource,
    /// The provider's raw body (webhook) or the serialized record (reconciliation).
    pub body: &'a [u8],
}

/// Publishes events to the queue. Cheap to clone.
#[derive(Clone, Debug)]
pub struct EventPublisher {
    queue: EventQueue,
    pub(crate) claims: Option<ClaimCheck>,
    pub(crate) inline_limit: usize,
}

impl EventPublisher {
    /// Payloads over `inline_limit` bytes go to `claims` (when `None`, they are inlined).
    pub fn new(queue: EventQueue, claims: Option<ClaimCheck>, inline_limit: usize) -> Self {
        Self {
            queue,
            claims,
            inline_limit,
        }
    }

    /// The queue.
    pub fn queue(&self) -> &EventQueue {
        &self.queue
    }

    /// Queues a `record.changed`. A body over the inline limit is sealed into the claim check
    /// and the event carries only the ticket; the queue row never holds the large body.
    ///
    /// When the change names an account, an id and a version, it goes through the
    /// delivered-versions ledger ([`crate::ledger`]): a version already announced (by the other
    /// path or earlier) yields [`Published::AlreadyDelivered`] and nothing is queued.
    pub async fn record_changed(
        &self,
        change: RecordChange<'_>,
    ) -> Result<Published, PublishError> {
        let mut out = self.record_changes(std::slice::from_ref(&change)).await?;
        Ok(out.pop().expect("one result per change"))
    }

    /// Queues an `account.*` event (`data` is type-specific, e.g. `{ "reason": ... }`).
    pub async fn account_event(
        &self,
        event_type: EventType,
        environment: &str,
        connector: &str,
        account_id: &str,
        data: Value,
    ) -> Result<Published, PublishError> {
        let event = Event::new(
            event_type,
            environment,
            connector,
            Some(account_id.to_owned()),
            data,
        );
        Ok(self.queue.publish(&event).await?)
    }
}
