//! A fake upstream (the true boundary: the HTTP client) and helpers.

use std::{
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body as HttpBody, Frame};
use http_body_util::BodyExt;
use tidegate_core::{Body, BoxError, Error, ErrorCode, RequestContext, body};
use tidegate_observe::{BoundaryLogLayer, LogSink, Redactor, sink::SinkTarget};
use tokio::sync::mpsc;
use tower::{Service, ServiceExt, util::BoxCloneService};

/// The attempt extension a retry layer would set (the stack builder maps the real type).
#[derive(Clone, Copy, Debug)]
pub struct Attempt(pub u32);

pub type Upstream = BoxCloneService<Request<Body>, Response<Body>, Error>;

/// The contract's default redaction lists (CONTRACT §2).
pub fn contract_redactor() -> Redactor {
    Redactor::with_contract_defaults()
}

/// An upstream answering with `make(path)` after draining the request body.
pub fn upstream_with(
    make: impl Fn(&str) -> Result<Response<Body>, Error> + Clone + Send + Sync + 'static,
) -> Upstream {
    BoxCloneService::new(tower::service_fn(move |req: Request<Body>| {
        let make = make.clone();
        async move {
            let path = req.uri().path().to_owned();
            let _ = req.into_body().collect().await;
            make(&path)
        }
    }))
}

/// A JSON response.
pub fn json_response(status: u16, headers: &[(&str, &str)], json: &str) -> Response<Body> {
    let mut b = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(body::full(json.to_owned())).unwrap()
}

/// An upstream error (no response).
pub fn unavailable(detail: &str) -> Error {
    Error::new(ErrorCode::UpstreamUnavailable, detail)
}

/// A body of `total` bytes in 64 KiB frames, generated as it is read.
pub struct GeneratedBody {
    remaining: u64,
    chunk: Bytes,
}

impl GeneratedBody {
    pub fn new(total: u64) -> Self {
        GeneratedBody {
            remaining: total,
            chunk: Bytes::from(vec![b'x'; 64 * 1024]),
        }
    }
}

impl HttpBody for GeneratedBody {
    type Data = Bytes;
    type Error = BoxError;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = self.remaining.min(self.chunk.len() as u64) as usize;
        self.remaining -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.slice(..n)))))
    }
    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }
}

/// The layer as the stack builder configures it, over `upstream`, with a channel sink.
pub fn logged(
    upstream: Upstream,
    configure: impl FnOnce(BoundaryLogLayer) -> BoundaryLogLayer,
) -> (Upstream, mpsc::Receiver<Vec<u8>>) {
    let (sink, rx) = LogSink::channel(1024);
    let layer = configure(
        BoundaryLogLayer::new(sink, contract_redactor())
            .connector("salesforce")
            .upstream_request_id_header("sforce-request-id")
            .attempt_from(|ext| ext.get::<Attempt>().map(|a| a.0)),
    );
    (
        BoxCloneService::new(tower::Layer::layer(&layer, upstream)),
        rx,
    )
}

/// Captures everything a writer sink writes (stands in for stdout).
#[derive(Clone, Default)]
pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    pub fn target(&self) -> SinkTarget {
        SinkTarget::Writer(Box::new(self.clone()))
    }
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// A request as the stack hands it to the HTTP client.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body_json: Option<&str>,
) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let mut req = b
        .body(body_json.map_or_else(body::empty, |j| body::full(j.to_owned())))
        .unwrap();
    req.extensions_mut().insert(
        RequestContext::new("salesforce")
            .with_request_id("req_987654321")
            .with_environment("production")
            .with_account("acc_12345"),
    );
    req
}

/// Sends `req` and reads the whole response body.
pub async fn exchange(svc: &mut Upstream, req: Request<Body>) -> Result<(u16, Bytes), Error> {
    let resp = svc.ready().await?.call(req).await?;
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(Error::from_box)?
        .to_bytes();
    Ok((status, bytes))
}

/// The next line as JSON.
pub fn next_line(rx: &mut mpsc::Receiver<Vec<u8>>) -> serde_json::Value {
    let line = rx.try_recv().expect("a line was emitted");
    assert_eq!(line.last(), Some(&b'\n'));
    assert_eq!(
        line.iter().filter(|&&b| b == b'\n').count(),
        1,
        "exactly one line"
    );
    serde_json::from_slice(&line).expect("the line is JSON")
}

/// A body whose data never arrives.
pub struct PendingBody;

impl HttpBody for PendingBody {
    type Data = Bytes;
    type Error = BoxError;
    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Poll::Pending
    }
}
