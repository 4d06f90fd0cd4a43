//! Integration tests of tidegate-observe: golden log lines against the schema, the canary
//! scan, and property tests of the redactor.

mod canary;
mod golden;
mod props;
mod schema;
mod support;
