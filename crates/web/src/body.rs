//! Request bodies a handler leaves unread are drained, up to a bound, before the connection
//! lets go of them. A client still sending a body the node refused (413 past
//! `api.max_body_bytes`, or any early answer) would otherwise see its connection reset by the
//! unread data and never read the answer; with this layer it finishes sending and reads it.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Body as HttpBody, Frame, SizeHint};

/// How much of an unread body is taken in, at most, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Drain {
    pub bytes: usize,
    pub within: Duration,
}

/// A request body that, dropped before its end, is read on to the bound by a task of its own.
struct Draining {
    inner: Option<Body>,
    drain: Drain,
}

impl HttpBody for Draining {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        match self.inner.as_mut() {
            Some(b) => Pin::new(b).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}

impl Drop for Draining {
    fn drop(&mut self) {
        let Some(body) = self.inner.take().filter(|b| !b.is_end_stream()) else {
            return;
        };
        let drain = self.drain;
        // Only inside a runtime (always, in the node); the task ends by both bounds.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = tokio::time::timeout(drain.within, discard(body, drain.bytes)).await;
            });
        }
    }
}

async fn discard(mut body: Body, mut budget: usize) {
    while budget > 0 {
        match std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            Some(Ok(frame)) => {
                let n = frame.data_ref().map_or(0, |d| d.len());
                budget = budget.saturating_sub(n.max(1));
            }
            _ => return,
        }
    }
}

/// The middleware: every request's body is wrapped so that what its handler leaves unread is
/// drained (`State` carries the bound).
pub async fn drain_unread(State(drain): State<Drain>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let body = Body::new(Draining {
        inner: Some(body),
        drain,
    });
    next.run(Request::from_parts(parts, body)).await
}
