//! Integration tests of the config loader, through the public API only.

mod errors;
mod support;
