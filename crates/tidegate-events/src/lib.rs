//! tidegate's events: inbound webhook verification ([`verify`]), Standard Webhooks signing of
//! outbound events ([`sign`]), the event model of CONTRACT §8 ([`event`]), a durable delivery
//! queue with retries and a dead-letter TTL ([`store`], [`delivery`]) and the claim check for
//! large payloads ([`claim`]).
#![forbid(unsafe_code)]

pub mod claim;
pub mod clock;
pub mod dedup;
pub mod delivery;
pub mod envelope;
pub mod event;
pub mod extract;
pub mod inbound;
pub mod ledger;
pub mod logsafe;
pub mod policy;
pub mod publish;
pub mod queue;
pub mod routes;
pub mod sign;
pub mod store;
pub mod vault;
pub mod verify;
pub mod wiring;

pub use clock::{Clock, ManualClock, SystemClock};
pub use envelope::Envelope;
pub use event::{Event, EventType, RecordSource};
pub use sign::Signer;
