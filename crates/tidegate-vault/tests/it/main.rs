//! tidegate-vault integration tests: one binary, one module per concern.
//!
//! PostgreSQL / Redis tests read `TIDEGATE_TEST_DATABASE_URL` / `TIDEGATE_TEST_REDIS_URL`
//! and print `SKIPPED: ...` when unset. The oidc tests need `node`/`npm` (oidc-provider 9).

mod canary;
mod connect;
mod crypto;
mod fault;
mod oidc;
mod redis_lock;
mod refresh;
mod store;
mod support;
