//! tidegate's integration audit: the runbook rendered from the live configuration, and the
//! hash-chained admin audit trail.
#![forbid(unsafe_code)]

mod accounts;
pub mod availability;
pub mod findings;
pub mod live;
pub mod trail;
