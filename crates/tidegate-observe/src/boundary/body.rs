//! Body wrappers that copy at most `MAX_CAPTURE` bytes aside as frames pass, never delaying them.

use std::{
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tidegate_core::{Body, BoxError};

use super::future::Finisher;
use crate::redact::MAX_CAPTURE;

/// The first bytes of a body and its total length.
#[derive(Debug, Default)]
pub(super) struct Captured {
    pub(super) bytes: Vec<u8>,
    pub(super) total_len: u64,
    pub(super) content_type: Option<String>,
    /// Whether the body was read to its end.
    pub(super) ended: bool,
}

impl Captured {
    pub(super) fn new(content_type: Option<String>) -> Self {
        Captured {
            bytes: Vec::new(),
            total_len: 0,
            content_type,
            ended: false,
        }
    }

    fn observe(&mut self, data: &Bytes) {
        self.total_len += data.len() as u64;
        let room = MAX_CAPTURE.saturating_sub(self.bytes.len());
        if room > 0 {
            self.bytes.extend_from_slice(&data[..data.len().min(room)]);
        }
    }
}

/// A request body that records what passes into a shared [`Captured`] (read when the line is
/// emitted, which may be before the request body finished, e.g. on an early error response).
pub(super) struct CaptureBody {
    inner: Body,
    captured: Arc<Mutex<Captured>>,
}

impl CaptureBody {
    pub(super) fn new(inner: Body, captured: Arc<Mutex<Captured>>) -> Self {
        CaptureBody { inner, captured }
    }
}

impl HttpBody for CaptureBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => self.inner.is_end_stream(),
            _ => false,
        };
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
            && let Ok(mut captured) = self.captured.lock()
        {
            captured.observe(data);
        }
        if ended && let Ok(mut captured) = self.captured.lock() {
            captured.ended = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that captures its first bytes and emits the pending line when it ends,
/// fails or is dropped (whichever comes first; exactly once).
pub(super) struct TeeBody {
    inner: Body,
    captured: Captured,
    finisher: Option<Finisher>,
}

impl TeeBody {
    pub(super) fn new(inner: Body, content_type: Option<String>, finisher: Finisher) -> Self {
        TeeBody {
            inner,
            captured: Captured::new(content_type),
            finisher: Some(finisher),
        }
    }

    fn finish(&mut self, error: Option<String>) {
        if let Some(finisher) = self.finisher.take() {
            finisher.finish(std::mem::take(&mut self.captured), error);
        }
    }
}

impl HttpBody for TeeBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.captured.observe(data);
                }
                if this.inner.is_end_stream() {
                    this.captured.ended = true;
                    this.finish(None);
                }
            }
            Poll::Ready(Some(Err(e))) => {
                this.finish(Some(format!("response body failed: {e}")));
            }
            Poll::Ready(None) => {
                this.captured.ended = true;
                this.finish(None);
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl TeeBody {
    /// Takes frames that are ready right now (already buffered by the client) without
    /// waiting: a retry layer that drops a failed attempt's response unread still gets that
    /// attempt's error body into the log when it had arrived. Bounded by `MAX_CAPTURE`.
    fn take_ready_frames(&mut self) {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        while self.captured.bytes.len() < MAX_CAPTURE {
            match Pin::new(&mut self.inner).poll_frame(&mut cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        self.captured.observe(data);
                    }
                    if self.inner.is_end_stream() {
                        self.captured.ended = true;
                        return;
                    }
                }
                Poll::Ready(None) => {
                    self.captured.ended = true;
                    return;
                }
                Poll::Ready(Some(Err(_))) | Poll::Pending => return,
            }
        }
    }
}

impl Drop for TeeBody {
    fn drop(&mut self) {
        // A caller that stops reading (or a gateway that drops the body) still gets its line.
        if self.finisher.is_some() {
            self.take_ready_frames();
        }
        self.finish(None);
    }
}
