//! Helpers shared by the top-level end-to-end tests, examples and benchmarks.
#![forbid(unsafe_code)]
