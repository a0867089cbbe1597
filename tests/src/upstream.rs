//! A real HTTP upstream on 127.0.0.1:0 (hyper, HTTP/1.1 and HTTP/2, optionally
//! TLS) that records what reached it and answers with a handler the test picks.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A response body of any kind.
pub type Body = BoxBody<Bytes, Infallible>;
type Handler = Arc<
    dyn Fn(Request<Incoming>) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> + Send + Sync,
>;

/// What the upstream saw of one request (head only; handlers see the body).
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub uri: http::Uri,
    pub version: http::Version,
    pub headers: HeaderMap,
}

/// A running upstream; stops when dropped.
#[derive(Debug)]
pub struct Upstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<std::sync::atomic::AtomicUsize>,
    stop: CancellationToken,
}

impl Upstream {
    /// An upstream that answers every request with `handler`.
    pub async fn start<F, Fut>(handler: F) -> Upstream
    where
        F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<Body>> + Send + 'static,
    {
        Self::start_with_tls(handler, None).await
    }

    /// The same, over TLS with `acceptor`.
    pub async fn start_with_tls<F, Fut>(
        handler: F,
        acceptor: Option<tokio_rustls::TlsAcceptor>,
    ) -> Upstream
    where
        F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<Body>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("upstream addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stop = CancellationToken::new();
        let handler: Handler = Arc::new(move |req| Box::pin(handler(req)));
        tokio::spawn(accept(
            listener,
            handler,
            seen.clone(),
            connections.clone(),
            stop.clone(),
            acceptor,
        ));
        Upstream {
            addr,
            seen,
            connections,
            stop,
        }
    }

    /// An upstream that echoes the request body back, streaming. A client body
    /// that fails midway simply ends the echo.
    pub async fn echo() -> Upstream {
        Self::start(
            |req: Request<Incoming>| async move { Response::new(Echo(req.into_body()).boxed()) },
        )
        .await
    }

    /// An upstream that answers 200 with `body`.
    pub async fn fixed(status: StatusCode, body: &'static str) -> Upstream {
        Self::start(move |_req| async move { text(status, body) }).await
    }

    /// Every request head seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen lock").clone()
    }

    /// How many connections the upstream has accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How many requests reached the upstream.
    pub fn count(&self) -> usize {
        self.seen.lock().expect("seen lock").len()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A plain-text response.
pub fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())).boxed());
    *r.status_mut() = status;
    r
}

/// A response body of `len` bytes, produced in 64 KiB chunks as it is sent.
pub fn streamed_bytes(len: u64) -> Body {
    Repeat {
        left: len,
        chunk: Bytes::from(vec![b'x'; 64 * 1024]),
    }
    .boxed()
}

/// A request body streamed back as the response; a client failure ends it.
#[derive(Debug)]
struct Echo(Incoming);

impl http_body::Body for Echo {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match Pin::new(&mut self.get_mut().0).poll_frame(cx) {
            std::task::Poll::Ready(Some(Ok(f))) => std::task::Poll::Ready(Some(Ok(f))),
            std::task::Poll::Ready(_) => std::task::Poll::Ready(None),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

/// A body that produces `left` bytes on demand and holds only one chunk.
#[derive(Debug)]
pub struct Repeat {
    pub left: u64,
    pub chunk: Bytes,
}

impl http_body::Body for Repeat {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.left == 0 {
            return std::task::Poll::Ready(None);
        }
        let n = this.left.min(this.chunk.len() as u64) as usize;
        this.left -= n as u64;
        std::task::Poll::Ready(Some(Ok(Frame::data(this.chunk.slice(..n)))))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.left)
    }
}

async fn accept(
    listener: TcpListener,
    handler: Handler,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<std::sync::atomic::AtomicUsize>,
    stop: CancellationToken,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
) {
    loop {
        let (stream, _) = tokio::select! {
            () = stop.cancelled() => return,
            r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
        };
        connections.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let (handler, seen, stop, acceptor) = (
            handler.clone(),
            seen.clone(),
            stop.clone(),
            acceptor.clone(),
        );
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                seen.lock().expect("seen lock").push(Seen {
                    method: req.method().clone(),
                    uri: req.uri().clone(),
                    version: req.version(),
                    headers: req.headers().clone(),
                });
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handler(req).await) }
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            let served = async {
                match acceptor {
                    Some(a) => {
                        if let Ok(tls) = a.accept(stream).await {
                            let _ = builder.serve_connection(TokioIo::new(tls), svc).await;
                        }
                    }
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                    }
                }
            };
            tokio::select! {
                () = stop.cancelled() => {}
                () = served => {}
            }
        });
    }
}
