//! A request body streamed to the upstream and cut at the route's `max_body`: never buffered
//! whole, it fails the exchange (and says so, for the `413`) once more bytes than allowed pass.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use hyper::body::{Body as HttpBody, Frame, SizeHint};

/// Whether a body went over its cap (shared with the code that reads the upstream's answer).
#[derive(Clone, Default)]
pub(super) struct Overflow(Arc<AtomicBool>);

impl Overflow {
    pub(super) fn hit(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The request body too large for its route.
#[derive(Debug, thiserror::Error)]
#[error("request body over the route's max_body")]
pub(super) struct TooLarge;

pub(super) struct CappedBody {
    inner: Body,
    left: u64,
    overflow: Overflow,
}

impl CappedBody {
    pub(super) fn new(inner: Body, cap: u64, overflow: Overflow) -> Self {
        Self {
            inner,
            left: cap,
            overflow,
        }
    }
}

impl HttpBody for CappedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let len = frame.data_ref().map_or(0, |d| d.len() as u64);
                if len > self.left {
                    self.overflow.0.store(true, Ordering::Relaxed);
                    return Poll::Ready(Some(Err(Box::new(TooLarge))));
                }
                self.left -= len;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
