//! tidegate's observability, in one place so that every writer shares one redactor:
//!
//! - [`redact`]: the redactor (headers, JSON keys at any depth, value patterns, URLs);
//! - [`boundary`]: the boundary-log tower layer (one JSON line per upstream exchange);
//! - [`sink`]: non-blocking log sinks (stdout, daily-rotated file with retention);
//! - [`metrics`]: canonical metric names, recording helpers and the Prometheus handle;
//! - [`attempt_metrics`]: the per-attempt upstream metrics layer (independent of the log);
//! - [`trace`]: request and attempt spans;
//! - [`ratelimit`]: the rate-limit figures a log line carries.
//!
//! See `docs/logging.md` for the log schema, what is redacted, retention and shipping.
#![forbid(unsafe_code)]

pub mod attempt_metrics;
pub mod boundary;
pub mod metrics;
pub mod ratelimit;
pub mod redact;
pub mod sink;
pub mod trace;

pub use boundary::{BoundaryLog, BoundaryLogLayer, BoundaryLogging, BoundaryRecord};
pub use redact::{BodyMode, Redactor};
pub use sink::{LogSink, SinkTarget, SinkWorker};
