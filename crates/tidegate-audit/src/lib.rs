//! tidegate's integration audit: the runbook rendered from the live configuration, and the
//! hash-chained admin audit trail.
#![forbid(unsafe_code)]

pub mod trail;
