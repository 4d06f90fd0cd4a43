//! Reading at most N bytes of a streaming body, and giving back an untouched body when it turns
//! out not to be an error.

use std::{
    collections::VecDeque,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use tidegate_core::{Body, BoxError};

/// What [`read_capped`] read.
pub struct ReadOutcome {
    /// The frames read, in order (the last one may extend past the cap: it was already in
    /// memory when it arrived; nothing more is pulled after the cap is passed).
    pub chunks: VecDeque<Bytes>,
    /// The unread rest of the body; `None` when it ended (or failed).
    pub rest: Option<Body>,
    /// Whether the body failed or timed out while being read.
    pub interrupted: bool,
}

impl ReadOutcome {
    /// Bytes read in total.
    pub fn len(&self) -> usize {
        self.chunks.iter().map(Bytes::len).sum()
    }

    /// Whether nothing was read.
    pub fn is_empty(&self) -> bool {
        self.chunks.iter().all(Bytes::is_empty)
    }

    /// Whether the whole body was read within the cap.
    pub fn complete(&self, max: usize) -> bool {
        self.rest.is_none() && !self.interrupted && self.len() <= max
    }

    /// The first `max` bytes, contiguous.
    pub fn head(&self, max: usize) -> Bytes {
        if self.chunks.len() == 1 {
            let only = &self.chunks[0];
            return only.slice(..only.len().min(max));
        }
        let mut buf = BytesMut::with_capacity(self.len().min(max));
        for chunk in &self.chunks {
            let room = max - buf.len();
            if room == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        buf.freeze()
    }

    /// A body replaying what was read, then the rest: the original body, byte for byte.
    pub fn into_body(self) -> Body {
        tidegate_core::body::boxed(PrefixedBody {
            chunks: self.chunks,
            rest: self.rest,
        })
    }
}

/// Reads `body` until it ends, more than `max` bytes were read, a frame fails, or `timeout`
/// passes (a slow-drip upstream cannot stall the normalization).
pub async fn read_capped(mut body: Body, max: usize, timeout: Duration) -> ReadOutcome {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut out = ReadOutcome {
        chunks: VecDeque::new(),
        rest: None,
        interrupted: false,
    };
    let mut total = 0usize;
    loop {
        if total > max {
            out.rest = Some(body);
            return out;
        }
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_elapsed) => {
                out.interrupted = true;
                out.rest = Some(body);
                return out;
            }
            Ok(None) => return out,
            Ok(Some(Err(_))) => {
                out.interrupted = true;
                return out;
            }
            Ok(Some(Ok(frame))) => {
                // Trailers carry nothing an error normalization needs.
                if let Ok(data) = frame.into_data() {
                    total += data.len();
                    out.chunks.push_back(data);
                }
            }
        }
    }
}

/// Replays buffered chunks, then streams the rest of the original body.
pub struct PrefixedBody {
    chunks: VecDeque<Bytes>,
    rest: Option<Body>,
}

impl HttpBody for PrefixedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(chunk) = self.chunks.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        match self.rest.as_mut() {
            Some(rest) => Pin::new(rest).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty() && self.rest.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let buffered: u64 = self.chunks.iter().map(|c| c.len() as u64).sum();
        match &self.rest {
            None => SizeHint::with_exact(buffered),
            Some(rest) => {
                let h = rest.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(h.lower() + buffered);
                if let Some(upper) = h.upper() {
                    hint.set_upper(upper + buffered);
                }
                hint
            }
        }
    }
}
