//! Integration tests of tidegate-upstream.
