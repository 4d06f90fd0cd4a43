//! Integration tests of tidegate-upstream (one test binary, one module per concern).

mod hostile;
mod ietf;
mod oracle;
mod pipeline;
mod presets;
mod props;
mod support;
