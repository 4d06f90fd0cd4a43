//! tidegate-reconcile integration tests: one binary, real components on loopback.

mod crash;
mod e2e;
mod failures;
mod support;
