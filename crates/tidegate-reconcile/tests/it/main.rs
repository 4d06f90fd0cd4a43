//! tidegate-reconcile integration tests: one binary, real components on loopback.

mod admin;
mod crash;
mod e2e;
mod failures;
mod schedule;
mod support;
mod waits;
