//! Integration tests of the config loader, through the public API only.

mod errors;
mod full;
mod paths;
mod presets;
mod robust;
mod secrets;
mod support;
mod units;
mod value_checks;
