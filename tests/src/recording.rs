//! An upstream that records every byte it receives, connection by connection,
//! before any HTTP parser sees them: the oracle of the smuggling corpus, which
//! must assert on exactly what reached the service, not on what a lenient
//! server made of it. hyper answers each request it can read with 200 "ok" so
//! the proxy's pool behaves as in production; a request hyper cannot read is
//! still on record. HTTP/1.1 only (the proxy speaks nothing else upstream).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// What one upstream connection received.
#[derive(Debug, Default)]
pub struct ConnLog {
    bytes: Mutex<Vec<u8>>,
    closed: AtomicBool,
}

impl ConnLog {
    /// Every byte received on this connection so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.bytes.lock().expect("conn log lock").clone()
    }

    /// True once the proxy closed (or reset) its side.
    pub fn closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

/// A running recording upstream; stops when dropped.
#[derive(Debug)]
pub struct RecordingUpstream {
    pub addr: SocketAddr,
    conns: Arc<Mutex<Vec<Arc<ConnLog>>>>,
    stop: CancellationToken,
}

impl RecordingUpstream {
    pub async fn start() -> RecordingUpstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind recording upstream");
        let addr = listener.local_addr().expect("recording upstream addr");
        let conns: Arc<Mutex<Vec<Arc<ConnLog>>>> = Arc::default();
        let stop = CancellationToken::new();
        tokio::spawn(accept(listener, conns.clone(), stop.clone()));
        RecordingUpstream { addr, conns, stop }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every connection accepted so far, oldest first.
    pub fn connections(&self) -> Vec<Arc<ConnLog>> {
        self.conns.lock().expect("conns lock").clone()
    }

    /// Every byte received, on all connections (in accept order).
    pub fn all_bytes(&self) -> Vec<u8> {
        self.connections().iter().flat_map(|c| c.bytes()).collect()
    }
}

impl Drop for RecordingUpstream {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A TCP listener on 127.0.0.1:0 that keeps every byte any client sends and
/// answers nothing (a syslog receiver, for a test that searches its input).
pub async fn keep_bytes() -> (SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind receiver");
    let addr = listener.local_addr().expect("receiver addr");
    let kept: Arc<Mutex<Vec<u8>>> = Arc::default();
    let k = kept.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let k = k.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 8192];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    k.lock().expect("kept lock").extend_from_slice(&buf[..n]);
                }
            });
        }
    });
    (addr, kept)
}

async fn accept(
    listener: TcpListener,
    conns: Arc<Mutex<Vec<Arc<ConnLog>>>>,
    stop: CancellationToken,
) {
    loop {
        let stream = tokio::select! {
            () = stop.cancelled() => return,
            r = listener.accept() => match r { Ok((s, _)) => s, Err(_) => continue },
        };
        let log = Arc::new(ConnLog::default());
        conns.lock().expect("conns lock").push(log.clone());
        let stop = stop.clone();
        tokio::spawn(async move {
            let io = Recorded {
                inner: stream,
                log: log.clone(),
            };
            let svc = service_fn(|req: Request<Incoming>| async move {
                // Read the body to its end so the connection can be reused.
                let _ = req.into_body().collect().await;
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
            });
            let conn =
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), svc);
            tokio::select! {
                () = stop.cancelled() => {}
                _ = conn => {}
            }
            log.closed.store(true, Ordering::SeqCst);
        });
    }
}

/// The upstream's socket, copying every byte read into the connection's log.
struct Recorded {
    inner: TcpStream,
    log: Arc<ConnLog>,
}

impl AsyncRead for Recorded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = res {
            let new = &buf.filled()[before..];
            self.log
                .bytes
                .lock()
                .expect("conn log lock")
                .extend_from_slice(new);
        }
        res
    }
}

impl AsyncWrite for Recorded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
