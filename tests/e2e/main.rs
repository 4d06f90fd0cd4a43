//! End-to-end proxy tests: the real gateway (in-process, on 127.0.0.1:0) in front of the real
//! sandbox provider, over real sockets.
#![forbid(unsafe_code)]

mod support;

mod breakers;
mod health;
mod logging;
mod proxy;
mod shutdown;
mod spans;
mod streaming;
