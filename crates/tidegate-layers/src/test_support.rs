//! Helpers shared by the unit tests of every layer: the in-test fake upstream is a
//! `tower::service_fn` (the true boundary of these layers), plus small body utilities.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use tidegate_core::{Body, BoxError, Error, body};

/// Counts calls reaching the fake upstream.
#[derive(Clone, Default)]
pub(crate) struct Calls(Arc<AtomicUsize>);

impl Calls {
    pub(crate) fn hit(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }
    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// A request with an empty body.
pub(crate) fn get(uri: &str) -> http::Request<Body> {
    http::Request::get(uri).body(body::empty()).unwrap()
}

/// A response of `status` with an empty body.
pub(crate) fn status(code: u16) -> Result<http::Response<Body>, Error> {
    Ok(http::Response::builder()
        .status(code)
        .body(body::empty())
        .unwrap())
}

/// A body fed from a channel: the test decides when (and whether) each chunk arrives.
pub(crate) fn channel_body() -> (tokio::sync::mpsc::Sender<Bytes>, Body) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, BoxError>(Frame::data(chunk)), rx))
    });
    (tx, body::boxed(StreamBody::new(stream)))
}

/// Reads a body to the end, returning the bytes or the first error.
pub(crate) async fn read_all(body: Body) -> Result<Bytes, BoxError> {
    body.collect().await.map(|c| c.to_bytes())
}

/// Lets spawned tasks run while time is paused.
pub(crate) async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::ZERO).await;
}
