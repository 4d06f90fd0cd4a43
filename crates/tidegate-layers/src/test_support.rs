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

/// A scriptable fake upstream: answers `status` (changeable at any time) and, while `hold`
/// is set, waits for a permit of `gate` before answering, so tests can keep calls in flight.
#[derive(Clone)]
pub(crate) struct Fake {
    pub(crate) calls: Calls,
    pub(crate) status: Arc<std::sync::atomic::AtomicU16>,
    pub(crate) hold: Arc<std::sync::atomic::AtomicBool>,
    pub(crate) gate: Arc<tokio::sync::Semaphore>,
}

impl Fake {
    pub(crate) fn new(status: u16) -> Self {
        Self {
            calls: Calls::default(),
            status: Arc::new(status.into()),
            hold: Arc::default(),
            gate: Arc::new(tokio::sync::Semaphore::new(0)),
        }
    }

    pub(crate) fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    pub(crate) fn service(
        &self,
    ) -> impl tower::Service<
        http::Request<Body>,
        Response = http::Response<Body>,
        Error = Error,
        Future = impl Future<Output = Result<http::Response<Body>, Error>> + Send + 'static,
    > + Clone
    + Send
    + 'static {
        let fake = self.clone();
        tower::service_fn(move |_req: http::Request<Body>| {
            let fake = fake.clone();
            async move {
                fake.calls.hit();
                if fake.hold.load(Ordering::SeqCst) {
                    fake.gate.acquire().await.unwrap().forget();
                }
                status(fake.status.load(Ordering::SeqCst))
            }
        })
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
