//! The one body type of a connector stack.
//!
//! Bodies are streamed, never buffered whole, so the type is a boxed [`http_body::Body`]. It is
//! `Unsync` because hyper's and axum's incoming bodies are `Send` but not always `Sync`, and a
//! stack never shares one body between threads.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, combinators::UnsyncBoxBody};

/// A boxed, type-erased error, as used by tower and hyper.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The streaming body of every request and response inside a connector stack.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// An empty body.
pub fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A body holding `bytes` in full (for small, already-known payloads).
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Boxes any body whose error converts into [`BoxError`].
pub fn boxed<B>(body: B) -> Body
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}
