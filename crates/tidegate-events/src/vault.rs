//! The glue to `tidegate-vault`: [`DurableEventSink`] is the vault's [`EventSink`] that puts
//! `account.*` events in the durable queue (instead of the vault's direct in-memory sender),
//! and [`VaultAccounts`] answers the inbound pipeline's "which environment owns this account?"
//! from the vault's store. The dependency points events → vault, so the vault never needs this
//! crate (no cycle).

use std::{future::Future, pin::Pin, sync::Arc};

use futures_util::future::BoxFuture;
use tidegate_vault::{AccountEvent, EventSink, store::Store};
use time::OffsetDateTime;

use crate::{Event, EventType, inbound::AccountDirectory, queue::EventQueue};

/// Queues the vault's account events durably (sealed, retried, dead-lettered like any event).
#[derive(Clone, Debug)]
pub struct DurableEventSink {
    queue: EventQueue,
}

impl DurableEventSink {
    /// Over `queue`.
    pub fn new(queue: EventQueue) -> Self {
        Self { queue }
    }
}

fn convert(ev: AccountEvent) -> Result<Event, String> {
    let event_type: EventType = ev.event_type.parse()?;
    let created_at = OffsetDateTime::parse(
        &ev.created_at,
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap_or_else(|_| OffsetDateTime::now_utc());
    Ok(Event {
        id: ev.id,
        event_type,
        created_at,
        environment: ev.environment,
        connector: ev.connector,
        integrated_account_id: Some(ev.integrated_account_id),
        data: ev.data,
    })
}

impl EventSink for DurableEventSink {
    fn emit(&self, event: AccountEvent) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let id = event.id.clone();
            match convert(event) {
                Ok(e) => {
                    if let Err(err) = self.queue.publish(&e).await {
                        tracing::error!(target: "tidegate::events", event_id = %id,
                            error = %crate::logsafe::redacted_text(&err.to_string()),
                            "account event could not be queued");
                    }
                }
                Err(why) => {
                    tracing::warn!(target: "tidegate::events", event_id = %id, reason = %why,
                        "account event of unknown type dropped");
                }
            }
        })
    }
}

/// Resolves accounts through the vault's store.
#[derive(Clone)]
pub struct VaultAccounts {
    store: Arc<dyn Store>,
}

impl VaultAccounts {
    /// Over the vault's store.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

impl AccountDirectory for VaultAccounts {
    fn environment_of<'a>(
        &'a self,
        connector: &'a str,
        account_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, tidegate_core::BoxError>> {
        Box::pin(async move {
            let record = self
                .store
                .get(account_id)
                .await
                .map_err(|e| Box::new(e) as tidegate_core::BoxError)?;
            Ok(record
                .filter(|r| r.connector == connector)
                .map(|r| r.environment))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_vault_events() {
        let ev = AccountEvent::new(
            "account.needs_reauth",
            "production",
            "hubspot",
            "acc_1",
            serde_json::json!({"reason":"invalid_grant"}),
        );
        let id = ev.id.clone();
        let e = convert(ev).unwrap();
        assert_eq!(e.id, id, "the vault's id is kept (stable webhook-id)");
        assert_eq!(e.event_type, EventType::AccountNeedsReauth);
        assert_eq!(e.integrated_account_id.as_deref(), Some("acc_1"));
        let bad = AccountEvent::new("account.exploded", "p", "c", "a", serde_json::Value::Null);
        assert!(convert(bad).is_err());
    }
}
