//! Owns the body types that stream through the proxy: `RequestBody` (client to
//! upstream, metered, with its first frame read ahead so a malformed body is
//! refused before the upstream is contacted) and `ProxyBody` (to the client,
//! metered, carrying the exchange's recorder so the event is written when the
//! body ends or is dropped).
//!
//! Must never buffer a whole body: frames pass through one at a time.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::phases::record::Recorder;
use crate::upstream::{ResponseBodyError, UpstreamBody};

/// Bytes received from the client, shared between the request body (which counts)
/// and the recorder (which reads).
#[derive(Debug, Default)]
pub(crate) struct Meter {
    bytes_in: AtomicU64,
    /// The client's body failed (bad chunking, reset): the fault is the client's.
    client_failed: AtomicBool,
    /// The body went past the route's cap.
    too_large: AtomicBool,
}

impl Meter {
    pub(crate) fn bytes_in(&self) -> u64 {
        self.bytes_in.load(Ordering::Relaxed)
    }

    pub(crate) fn client_failed(&self) -> bool {
        self.client_failed.load(Ordering::Relaxed)
    }

    pub(crate) fn too_large(&self) -> bool {
        self.too_large.load(Ordering::Relaxed)
    }
}

/// Why a request body stopped short of the upstream.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    #[error("the client's body failed: {0}")]
    Client(hyper::Error),
    #[error("the body is larger than the route allows ({0} bytes)")]
    TooLarge(u64),
}

/// The body sent upstream. The streaming case is boxed so that a request, which
/// hyper moves several times on its way out, stays small.
#[derive(Debug)]
pub(crate) enum RequestBody {
    Empty,
    Stream(Box<Streaming>),
}

/// A client body being streamed upstream.
#[derive(Debug)]
pub(crate) struct Streaming {
    first: Option<Frame<Bytes>>,
    /// Trailers met while reading ahead, sent after `first`.
    then: Option<Frame<Bytes>>,
    rest: Incoming,
    pub(crate) meter: Arc<Meter>,
    /// The route's body cap, in bytes.
    limit: u64,
}

impl RequestBody {
    /// A body whose first frame has been read; None when that frame alone is
    /// over `limit`.
    pub(crate) fn stream(
        first: Frame<Bytes>,
        then: Option<Frame<Bytes>>,
        rest: Incoming,
        meter: Arc<Meter>,
        limit: u64,
    ) -> Option<Self> {
        if let Some(d) = first.data_ref() {
            let total =
                meter.bytes_in.fetch_add(d.len() as u64, Ordering::Relaxed) + d.len() as u64;
            if total > limit {
                meter.too_large.store(true, Ordering::Relaxed);
                return None;
            }
        }
        Some(RequestBody::Stream(Box::new(Streaming {
            first: Some(first),
            then,
            rest,
            meter,
            limit,
        })))
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            RequestBody::Empty => Poll::Ready(None),
            RequestBody::Stream(st) => {
                let Streaming {
                    first,
                    then,
                    rest,
                    meter,
                    limit,
                } = &mut **st;
                if let Some(f) = first.take().or_else(|| then.take()) {
                    return Poll::Ready(Some(Ok(f)));
                }
                match ready!(Pin::new(rest).poll_frame(cx)) {
                    Some(Ok(f)) => {
                        let n = f.data_ref().map_or(0, |d| d.len() as u64);
                        let total = meter.bytes_in.fetch_add(n, Ordering::Relaxed) + n;
                        if total > *limit {
                            // Cut the upstream request short rather than pass it on.
                            meter.too_large.store(true, Ordering::Relaxed);
                            return Poll::Ready(Some(Err(BodyError::TooLarge(*limit))));
                        }
                        Poll::Ready(Some(Ok(f)))
                    }
                    Some(Err(e)) => {
                        meter.client_failed.store(true, Ordering::Relaxed);
                        Poll::Ready(Some(Err(BodyError::Client(e))))
                    }
                    None => Poll::Ready(None),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Empty => true,
            RequestBody::Stream(st) => {
                st.first.is_none() && st.then.is_none() && st.rest.is_end_stream()
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Empty => SizeHint::with_exact(0),
            RequestBody::Stream(st) => {
                let Streaming { first, rest, .. } = &**st;
                // Trailers carry no data, so `then` adds nothing here.
                let ahead = first
                    .as_ref()
                    .and_then(Frame::data_ref)
                    .map_or(0, |d| d.len() as u64);
                let rest = rest.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(rest.lower() + ahead);
                if let Some(u) = rest.upper() {
                    hint.set_upper(u + ahead);
                }
                hint
            }
        }
    }
}

/// The body sent to the client.
#[derive(Debug)]
pub struct ProxyBody {
    kind: Kind,
    /// Written into the tee when dropped: at the body's end, or when the client
    /// goes away first.
    recorder: Option<Box<Recorder>>,
}

#[derive(Debug)]
enum Kind {
    Upstream(UpstreamBody),
    Local(Option<Bytes>),
}

impl ProxyBody {
    pub(crate) fn local(body: Bytes) -> Self {
        Self {
            kind: Kind::Local(Some(body)),
            recorder: None,
        }
    }

    pub(crate) fn upstream(body: UpstreamBody) -> Self {
        Self {
            kind: Kind::Upstream(body),
            recorder: None,
        }
    }

    pub(crate) fn attach(&mut self, recorder: Box<Recorder>) {
        self.recorder = Some(recorder);
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = ResponseBodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ResponseBodyError>>> {
        let this = self.get_mut();
        let frame = match &mut this.kind {
            Kind::Upstream(b) => ready!(Pin::new(b).poll_frame(cx)),
            Kind::Local(b) => b.take().map(|b| Ok(Frame::data(b))),
        };
        match &frame {
            Some(Ok(f)) => {
                if let (Some(d), Some(r)) = (f.data_ref(), this.recorder.as_mut()) {
                    r.saw_data(d);
                }
            }
            Some(Err(_)) | None => {
                // The exchange is over: record it now rather than when hyper drops us.
                this.recorder.take();
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Upstream(b) => b.is_end_stream(),
            Kind::Local(b) => b.as_ref().is_none_or(Bytes::is_empty),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Upstream(b) => b.size_hint(),
            Kind::Local(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}
