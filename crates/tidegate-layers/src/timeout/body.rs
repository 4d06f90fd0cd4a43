use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use pin_project_lite::pin_project;
use tidegate_core::{Body, BoxError, Error, ErrorCode};
use tokio::time::{Instant, Sleep, sleep};

// The timer is created lazily, the first time the body has to wait: a body that is already
// complete when it is read (most small JSON answers) never pays for one.

use super::service::IdleContext;

pin_project! {
    /// A response body that fails with `upstream_timeout` when the upstream sends nothing for
    /// longer than the idle timeout. The timer restarts on every frame, so a slow but steady
    /// stream is never cut; only a stall is.
    pub struct IdleTimeoutBody {
        inner: Body,
        #[pin]
        sleep: Option<Sleep>,
        ctx: IdleContext,
        cut: bool,
    }
}

impl IdleTimeoutBody {
    pub(super) fn boxed(inner: Body, ctx: IdleContext) -> Body {
        Body::new(IdleTimeoutBody {
            inner,
            sleep: None,
            ctx,
            cut: false,
        })
    }
}

impl HttpBody for IdleTimeoutBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        if *this.cut {
            return Poll::Ready(None);
        }
        match Pin::new(&mut *this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                if frame.is_some()
                    && let Some(timer) = this.sleep.as_mut().as_pin_mut()
                {
                    timer.reset(Instant::now() + this.ctx.idle);
                }
                Poll::Ready(frame)
            }
            Poll::Pending => {
                if this.sleep.is_none() {
                    this.sleep.set(Some(sleep(this.ctx.idle)));
                }
                let timer = this.sleep.as_mut().as_pin_mut().expect("set above");
                if timer.poll(cx).is_pending() {
                    return Poll::Pending;
                }
                *this.cut = true;
                tracing::warn!(
                    connector = this.ctx.connector.as_deref().unwrap_or(""),
                    request_id = this.ctx.request_id.as_deref().unwrap_or(""),
                    idle_ms = this.ctx.idle.as_millis() as u64,
                    "response body stalled; cutting it"
                );
                let err = Error::new(
                    ErrorCode::UpstreamTimeout,
                    format!(
                        "the upstream's response body sent nothing for {}ms",
                        this.ctx.idle.as_millis()
                    ),
                );
                Poll::Ready(Some(Err(Box::new(err))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.cut || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
