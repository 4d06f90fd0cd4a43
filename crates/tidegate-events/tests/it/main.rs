//! tidegate-events integration tests: one binary, one module per concern.

mod support;

mod claims;
mod delivery;
mod http_e2e;
mod inbound;
mod peers;
mod schemes;
