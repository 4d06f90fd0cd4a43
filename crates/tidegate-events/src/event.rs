//! The events tidegate delivers to an environment's `webhook_url` (CONTRACT §8).
//!
//! ```json
//! { "id": "evt_01936f0e...", "type": "record.changed", "created_at": "2026-11-29T12:00:00Z",
//!   "environment": "production", "connector": "hubspot", "integrated_account_id": "acc_1",
//!   "data": { "object": "contact", "id": "123", "version": "2026-11-29T11:59:58Z",
//!             "source": "webhook", "payload": { ... } } }
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

/// The event types of CONTRACT §8.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// A record changed upstream (seen by a provider webhook or by reconciliation).
    #[serde(rename = "record.changed")]
    RecordChanged,
    /// An account's grant was revoked; a human must reconnect it.
    #[serde(rename = "account.needs_reauth")]
    AccountNeedsReauth,
    /// An account's token was refreshed.
    #[serde(rename = "account.refreshed")]
    AccountRefreshed,
    /// An account was connected (OAuth callback or admin PUT).
    #[serde(rename = "account.connected")]
    AccountConnected,
    /// A refresh failed for a retryable reason (emitted by the vault; an addition to the
    /// CONTRACT §8 list).
    #[serde(rename = "account.refresh_failed")]
    AccountRefreshFailed,
}

impl EventType {
    /// The wire name, e.g. `record.changed`.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::RecordChanged => "record.changed",
            EventType::AccountNeedsReauth => "account.needs_reauth",
            EventType::AccountRefreshed => "account.refreshed",
            EventType::AccountConnected => "account.connected",
            EventType::AccountRefreshFailed => "account.refresh_failed",
        }
    }
}

impl std::str::FromStr for EventType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            EventType::RecordChanged,
            EventType::AccountNeedsReauth,
            EventType::AccountRefreshed,
            EventType::AccountConnected,
            EventType::AccountRefreshFailed,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
        .ok_or_else(|| format!("unknown event type {s:?}"))
    }
}

/// Where a `record.changed` came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordSource {
    /// A verified provider webhook.
    Webhook,
    /// Polling reconciliation.
    Reconciliation,
}

/// One event, exactly as serialized into the delivered body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `evt_` + a UUIDv7; also the `webhook-id` header, stable across retries.
    pub id: String,
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When the event was created (RFC 3339, UTC).
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    /// The environment it is delivered to.
    pub environment: String,
    /// The connector it concerns.
    pub connector: String,
    /// The integrated account it concerns.
    pub integrated_account_id: Option<String>,
    /// Type-specific data.
    pub data: Value,
}

impl Event {
    /// A new event with a fresh id and `created_at = now` (UTC, whole milliseconds).
    pub fn new(
        event_type: EventType,
        environment: impl Into<String>,
        connector: impl Into<String>,
        integrated_account_id: Option<String>,
        data: Value,
    ) -> Self {
        let now = OffsetDateTime::now_utc();
        let created_at = now.replace_millisecond(now.millisecond()).unwrap_or(now);
        Self {
            id: new_event_id(),
            event_type,
            created_at,
            environment: environment.into(),
            connector: connector.into(),
            integrated_account_id,
            data,
        }
    }

    /// The exact bytes delivered (and signed).
    pub fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an Event always serializes")
    }
}

/// `evt_` + a UUIDv7 in simple (hex) form: time-ordered, unique, no `.` (Standard Webhooks ids
/// must not contain one).
pub fn new_event_id() -> String {
    format!("evt_{}", uuid::Uuid::now_v7().simple())
}

/// Builds the `data` of a `record.changed` event; `body` is the payload (`payload` for
/// webhooks, `record` for reconciliation) or a claim-check reference.
pub fn record_changed_data(
    object: Option<&str>,
    id: Option<&str>,
    version: Option<&str>,
    source: RecordSource,
    body: Value,
) -> Value {
    let key = match source {
        RecordSource::Webhook => "payload",
        RecordSource::Reconciliation => "record",
    };
    serde_json::json!({
        "object": object,
        "id": id,
        "version": version,
        "source": source,
        key: body,
    })
}

/// RFC 3339 (de)serialization without enabling `time`'s serde feature workspace-wide.
mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _, ser::Error as _};
    use time::{OffsetDateTime, format_description::well_known::Rfc3339};

    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.format(&Rfc3339).map_err(S::Error::custom)?)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let s = String::deserialize(d)?;
        OffsetDateTime::parse(&s, &Rfc3339).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_contract_shape() {
        let e = Event::new(
            EventType::RecordChanged,
            "production",
            "hubspot",
            Some("acc_1".into()),
            record_changed_data(
                Some("contact"),
                Some("1"),
                Some("v2"),
                RecordSource::Webhook,
                serde_json::json!({"a":1}),
            ),
        );
        let v: Value = serde_json::from_slice(&e.to_body()).unwrap();
        assert!(v["id"].as_str().unwrap().starts_with("evt_"));
        assert!(!v["id"].as_str().unwrap().contains('.'));
        assert_eq!(v["type"], "record.changed");
        assert_eq!(v["environment"], "production");
        assert_eq!(v["connector"], "hubspot");
        assert_eq!(v["integrated_account_id"], "acc_1");
        assert_eq!(v["data"]["source"], "webhook");
        assert_eq!(v["data"]["payload"]["a"], 1);
        let created = v["created_at"].as_str().unwrap();
        OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339).unwrap();
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn reconciliation_uses_record_key() {
        let d = record_changed_data(
            None,
            Some("1"),
            None,
            RecordSource::Reconciliation,
            Value::Null,
        );
        assert_eq!(d["source"], "reconciliation");
        assert!(d.get("record").is_some() && d.get("payload").is_none());
    }
}
