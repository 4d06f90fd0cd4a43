//! tidegate's events: inbound webhook verification ([`verify`]), Standard Webhooks signing of
//! outbound events ([`sign`]), the event model of CONTRACT §8 ([`event`]), a durable delivery
//! queue with retries and a dead-letter TTL ([`store`], [`delivery`]) and the claim check for
//! large payloads ([`claim`]).
#![forbid(unsafe_code)]

pub mod verify;
