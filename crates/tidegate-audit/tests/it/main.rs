//! tidegate-audit's integration tests: one binary, one module per area.

mod breakglass;
mod golden;
mod live;
mod schema;
mod support;
mod trail;
