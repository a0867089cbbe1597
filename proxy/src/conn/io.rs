//! Owns `TrackedIo`: the client stream as hyper sees it. It tells the connection
//! state when bytes arrive and when writes stall or progress (for the send
//! timeout), and runs the HTTP/1 framing guard over what it reads.
//! Must not buffer: bytes go straight into hyper's buffer.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::guard::{H1Guard, Inspect};
use super::state::{ConnInfo, Refusal};

pin_project_lite::pin_project! {
    /// A client stream with read tracking and, for HTTP/1, the framing guard.
    #[derive(Debug)]
    pub(crate) struct TrackedIo<S> {
        #[pin]
        inner: S,
        info: Arc<ConnInfo>,
        guard: Option<H1Guard>,
        // Bytes read while choosing the protocol, served before the stream's own.
        prefix: Bytes,
    }
}

impl<S> TrackedIo<S> {
    pub(crate) fn new(
        inner: S,
        info: Arc<ConnInfo>,
        guard: Option<H1Guard>,
        prefix: Bytes,
    ) -> Self {
        Self {
            inner,
            info,
            guard,
            prefix,
        }
    }

    pub(crate) fn guard(&self) -> Option<&H1Guard> {
        self.guard.as_ref()
    }

    pub(crate) fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: AsyncRead> AsyncRead for TrackedIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let state = &this.info.state;
        match state.refused() {
            None => {}
            // hyper's body decoder fails on the early end: 400, then close.
            Some(Refusal::Cut) => return Poll::Ready(Ok(())),
            // The driver answers and closes; hyper must see neither data nor EOF.
            Some(_) => return Poll::Pending,
        }
        let before = buf.filled().len();
        if this.prefix.is_empty() {
            ready!(this.inner.poll_read(cx, buf))?;
        } else {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix.split_to(n));
        }
        let new = &buf.filled()[before..];
        if new.is_empty() {
            return Poll::Ready(Ok(()));
        }
        state.on_read();
        let Some(guard) = this.guard.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        match guard.inspect(new) {
            Inspect::Pass => Poll::Ready(Ok(())),
            Inspect::Reject { keep } => withhold(buf, before, keep, state, Refusal::Ambiguous),
            Inspect::Broken { keep } => withhold(buf, before, keep, state, Refusal::Close),
            Inspect::Cut { keep } => {
                buf.set_filled(before + keep);
                state.refuse(Refusal::Cut);
                // With nothing to hand over, this read is already the end.
                Poll::Ready(Ok(()))
            }
        }
    }
}

/// Hands hyper only the first `keep` new bytes and refuses the connection. With
/// nothing to hand over the read stays pending: hyper must not mistake it for EOF.
fn withhold(
    buf: &mut ReadBuf<'_>,
    before: usize,
    keep: usize,
    state: &super::state::ConnState,
    why: Refusal,
) -> Poll<io::Result<()>> {
    buf.set_filled(before + keep);
    state.refuse(why);
    if keep == 0 {
        Poll::Pending
    } else {
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite> AsyncWrite for TrackedIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        track(&this.info.state, this.inner.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        track(&this.info.state, this.inner.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        // TLS writes its records on flush: a stall shows here too.
        track(&this.info.state, this.inner.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}

/// Tells the connection state whether a write waits (the client is not reading)
/// or went through; the driver cuts a connection whose write waits too long.
fn track<T>(state: &super::state::ConnState, poll: Poll<T>) -> Poll<T> {
    match &poll {
        Poll::Pending => state.on_write_blocked(),
        Poll::Ready(_) => state.on_write_progress(),
    }
    poll
}
