//! Bounded buffering of a request body for replay.

use bytes::{Bytes, BytesMut};
use http_body::{Body as HttpBody, Frame};
use http_body_util::{BodyExt, BodyStream, StreamBody};
use tidegate_core::{Body, BoxError, body};

pub(super) enum Buffered {
    /// The whole body, small enough to replay.
    Complete(Bytes),
    /// Too large (or with trailers): what was read, followed by the rest, to send once.
    Stream(Body),
}

/// The declared length, if any.
pub(super) fn declared_length<B: HttpBody>(req: &http::Request<B>) -> Option<u64> {
    if let Some(len) = req.headers().get(http::header::CONTENT_LENGTH) {
        return len.to_str().ok()?.trim().parse().ok();
    }
    req.body().size_hint().exact()
}

/// Reads at most `max` bytes of `body`.
pub(super) async fn buffer(mut body: Body, max: usize) -> Result<Buffered, BoxError> {
    if body.is_end_stream() {
        return Ok(Buffered::Complete(Bytes::new()));
    }
    let mut frames: Vec<Frame<Bytes>> = Vec::new();
    let mut len = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        let Some(data) = frame.data_ref() else {
            frames.push(frame); // trailers: not replayable by this layer
            return Ok(Buffered::Stream(chain(frames, body)));
        };
        len += data.len();
        frames.push(frame);
        if len > max {
            return Ok(Buffered::Stream(chain(frames, body)));
        }
    }
    let mut bytes = BytesMut::with_capacity(len);
    for frame in frames {
        if let Ok(data) = frame.into_data() {
            bytes.extend_from_slice(&data);
        }
    }
    Ok(Buffered::Complete(bytes.freeze()))
}

fn chain(read: Vec<Frame<Bytes>>, rest: Body) -> Body {
    use futures_util::StreamExt;
    let stream = futures_util::stream::iter(read.into_iter().map(Ok::<_, BoxError>))
        .chain(BodyStream::new(rest));
    body::boxed(StreamBody::new(stream))
}
