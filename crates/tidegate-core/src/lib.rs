//! The vocabulary every tidegate crate speaks: the body type that flows through a connector
//! stack, the per-request [`RequestContext`], the fixed set of [`ErrorCode`]s of CONTRACT §4,
//! the classified [`Error`] a layer returns, and the RFC 9457 [`Problem`] a caller receives.
//!
//! Classification happens once, near the source of a failure ("terminal vs retryable is a type,
//! not a string"): retries, breaker accounting and the problem response all read the same
//! [`ErrorCode`]. This crate performs no I/O.
#![forbid(unsafe_code)]

pub mod body;
pub mod context;
pub mod defaults;
pub mod error;
pub mod problem;

pub use body::{Body, BoxError};
pub use context::RequestContext;
pub use error::{Error, ErrorCode};
pub use problem::{Problem, UpstreamProblem};
