use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tidegate_core::{Body, BoxError};

use super::SlotGuard;

/// A response body holding its call's bulkhead slot until it ends or is dropped.
pub struct GuardedBody {
    inner: Body,
    slot: Option<SlotGuard>,
}

impl GuardedBody {
    pub(super) fn boxed(inner: Body, slot: SlotGuard) -> Body {
        if inner.is_end_stream() {
            return inner; // nothing left to stream: free the slot now
        }
        Body::new(GuardedBody {
            inner,
            slot: Some(slot),
        })
    }
}

impl HttpBody for GuardedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.slot = None;
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
