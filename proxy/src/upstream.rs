//! Owns the connection pool to the upstream: one per worker, so workers never
//! contend for it, holding HTTP/1.1 connections (plain TCP, or rustls with the
//! configured roots) with TCP_NODELAY and the connect timeout. A request without
//! a body takes the lean exchange (`lean`); one with a body takes hyper's client,
//! which streams both ways at once. Each kind keeps its own idle connections.
//!
//! Why not hyper-util's pooled client: it is built for many hosts and any thread
//! (a keyed map behind a lock, a connector cloned and a lazy connect raced on every
//! request); measured on the benchmark it cost about 5 µs of CPU per request, a
//! fifth of the proxy's budget. A sidecar has exactly one upstream per worker, so a
//! stack of ready connections is all the pool there is to do.
//!
//! Must not hold a connection's lock across an await, and must never reuse a
//! connection whose previous response was not read to the end.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::body::RequestBody;
use crate::error::ProxyError;
use crate::settings::UpstreamSettings;

mod lean;

use lean::{Conn, Io, LeanBody, LeanError};

/// Why a request could not be exchanged with the upstream.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    #[error("cannot connect to the upstream: {0}")]
    Connect(io::Error),
    #[error("connecting to the upstream timed out")]
    ConnectTimeout,
    #[error("TLS handshake with the upstream failed: {0}")]
    Tls(io::Error),
    #[error("HTTP/1.1 handshake with the upstream failed: {0}")]
    Handshake(hyper::Error),
    #[error("the upstream exchange failed: {0}")]
    Exchange(hyper::Error),
    #[error("the upstream exchange failed: {0}")]
    Lean(LeanError),
    #[error(
        "the upstream's response head is larger than {UPSTREAM_BUF} bytes, Palisade's limit \
         (nginx refuses one past proxy_buffer_size, 4 or 8 KiB by default): make the service \
         send fewer or smaller headers"
    )]
    HeadTooLarge,
}

/// The read buffer of one upstream connection, at most, as on the client side
/// (`server::h1_buf_size`). hyper's default, about 400 KiB, was most of what a
/// client that stops reading cost: the upstream's response piled up here while
/// the client's side waited. Also the largest response head accepted.
pub(crate) const UPSTREAM_BUF: usize = 64 * 1024;

/// A worker's pool of connections to the upstream.
#[derive(Debug)]
pub(crate) struct Upstream {
    settings: UpstreamSettings,
    tls: Option<UpstreamTls>,
    // A mutex, not a RefCell: request futures must be Send. Only this worker's
    // thread ever takes it, so it is never contended.
    idle: Mutex<Pools>,
}

#[derive(Debug)]
struct Pools {
    /// Connections driven by hyper's client, for requests with a body.
    hyper: Vec<Idle<http1::SendRequest<RequestBody>>>,
    /// Connections for the lean exchange.
    lean: Vec<Idle<Conn>>,
}

#[derive(Debug)]
struct Idle<C> {
    conn: C,
    since: Instant,
}

/// How to wrap an upstream connection in TLS, when the upstream is https.
#[derive(Clone)]
pub(crate) struct UpstreamTls {
    connector: TlsConnector,
    name: ServerName<'static>,
}

impl std::fmt::Debug for UpstreamTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTls")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Prepares TLS towards the upstream (once, shared by every worker's pool).
pub(crate) fn upstream_tls(
    settings: &UpstreamSettings,
    mut config: ClientConfig,
) -> Result<Option<UpstreamTls>, ProxyError> {
    if settings.scheme != http::uri::Scheme::HTTPS {
        return Ok(None);
    }
    let name =
        ServerName::try_from(host_of(settings).to_string()).map_err(|e| ProxyError::Tls {
            key: "upstream.url",
            message: format!(
                "`{}` cannot be checked against a certificate: {e}",
                host_of(settings)
            ),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(UpstreamTls {
        connector: TlsConnector::from(Arc::new(config)),
        name,
    }))
}

/// The upstream's host, without IPv6 brackets.
fn host_of(settings: &UpstreamSettings) -> &str {
    let host = settings.authority.host();
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

impl Upstream {
    pub(crate) fn new(settings: UpstreamSettings, tls: Option<UpstreamTls>) -> Arc<Self> {
        Arc::new(Self {
            idle: Mutex::new(Pools {
                hyper: Vec::new(),
                lean: Vec::with_capacity(settings.pool_max_idle),
            }),
            settings,
            tls,
        })
    }

    /// Sends a request over a pooled or new connection. The response's body hands
    /// the connection back to the pool once it has been read to the end.
    pub(crate) async fn send(
        self: &Arc<Self>,
        req: Request<RequestBody>,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        match req.body() {
            RequestBody::Empty => self.send_lean(req.into_parts().0).await,
            RequestBody::Stream(_) => self.send_hyper(req).await,
        }
    }

    /// A request without a body, over a lean connection.
    async fn send_lean(
        self: &Arc<Self>,
        req: http::request::Parts,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        loop {
            let (mut conn, reused) = match self.checkout_lean() {
                Some(c) => (c, true),
                // Boxed: see `send_hyper`.
                None => (Conn::new(Box::pin(self.connect()).await?), false),
            };
            match conn.exchange(&req).await {
                Ok(head) => {
                    let resp = LeanBody::response(conn, head, self.clone());
                    return Ok(resp.map(UpstreamBody::Lean));
                }
                // A kept-alive connection the upstream closed as it was reused:
                // nothing came back, so an idempotent request can go again.
                Err(e) if reused && e.nothing_received() && req.method.is_idempotent() => {}
                Err(LeanError::HeadTooLarge) => return Err(UpstreamError::HeadTooLarge),
                Err(e) => return Err(UpstreamError::Lean(e)),
            }
        }
    }

    /// A request with a body, over a connection driven by hyper's client.
    async fn send_hyper(
        self: &Arc<Self>,
        mut req: Request<RequestBody>,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        loop {
            let (mut sender, reused) = match self.checkout_hyper().await {
                Some(s) => (s, true),
                // Boxed: the connect future (TCP, TLS, handshake) is over 2 KiB,
                // and inline it made every request's future that much larger,
                // copied several times per request although it is rarely used.
                None => {
                    let io = Box::pin(self.connect()).await?;
                    (Box::pin(handshake(io)).await?, false)
                }
            };
            match sender.try_send_request(req).await {
                Ok(resp) => {
                    let (parts, body) = resp.into_parts();
                    let body = UpstreamBody::Hyper(HyperBody {
                        inner: body,
                        back: Some((sender, self.clone())),
                    });
                    return Ok(Response::from_parts(parts, body));
                }
                Err(mut e) => match e.take_message() {
                    // A kept-alive connection the upstream had just closed: the
                    // request was never written, so it is safe to send again.
                    Some(unsent) if reused => req = unsent,
                    _ => {
                        let e = e.into_error();
                        return Err(if e.is_parse_too_large() {
                            UpstreamError::HeadTooLarge
                        } else {
                            UpstreamError::Exchange(e)
                        });
                    }
                },
            }
        }
    }

    /// The most recently used idle lean connection that is still open and fresh.
    fn checkout_lean(&self) -> Option<Conn> {
        loop {
            let mut idle = self.lock().lean.pop()?;
            if idle.since.elapsed() < self.settings.pool_idle_timeout && idle.conn.idle_and_open() {
                return Some(idle.conn);
            }
        }
    }

    fn checkin_lean(&self, conn: Conn) {
        let mut idle = self.lock();
        if idle.lean.len() < self.settings.pool_max_idle {
            idle.lean.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }

    /// The most recently used idle hyper connection that is still open and fresh.
    async fn checkout_hyper(&self) -> Option<http1::SendRequest<RequestBody>> {
        loop {
            let idle = self.lock().hyper.pop()?;
            if idle.conn.is_closed() || idle.since.elapsed() >= self.settings.pool_idle_timeout {
                continue;
            }
            let mut sender = idle.conn;
            // Ready at once unless the connection task has not yet noticed the end
            // of the previous response; an error means it is closing.
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    fn checkin_hyper(&self, sender: http1::SendRequest<RequestBody>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.lock();
        if idle.hyper.len() < self.settings.pool_max_idle {
            idle.hyper.push(Idle {
                conn: sender,
                since: Instant::now(),
            });
        }
    }

    async fn connect(&self) -> Result<Io, UpstreamError> {
        let port = self.settings.authority.port_u16().unwrap_or(80);
        let host = host_of(&self.settings);
        let tcp = tokio::time::timeout(
            self.settings.connect_timeout,
            TcpStream::connect((host, port)),
        )
        .await
        .map_err(|_| UpstreamError::ConnectTimeout)?
        .map_err(UpstreamError::Connect)?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => Ok(Io::Tcp(tcp)),
            Some(t) => {
                let tls = tokio::time::timeout(
                    self.settings.connect_timeout,
                    t.connector.connect(t.name.clone(), tcp),
                )
                .await
                .map_err(|_| UpstreamError::ConnectTimeout)?
                .map_err(UpstreamError::Tls)?;
                Ok(Io::Tls(Box::new(tls)))
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pools> {
        // The list stays valid whatever a panicking holder did: entries are whole.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn handshake(io: Io) -> Result<http1::SendRequest<RequestBody>, UpstreamError> {
    let (sender, conn) = http1::Builder::new()
        .max_buf_size(UPSTREAM_BUF)
        .handshake(TokioIo::new(io))
        .await
        .map_err(UpstreamError::Handshake)?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}

/// An upstream response body that returns its connection to the pool when read
/// to the end. Dropped earlier, the connection is closed with it.
#[derive(Debug)]
pub(crate) enum UpstreamBody {
    Hyper(HyperBody),
    Lean(LeanBody),
}

/// Why an upstream response body stopped short.
#[derive(Debug, thiserror::Error)]
pub enum ResponseBodyError {
    #[error(transparent)]
    Hyper(hyper::Error),
    #[error(transparent)]
    Lean(LeanError),
}

/// A response body from hyper's client.
#[derive(Debug)]
pub(crate) struct HyperBody {
    inner: Incoming,
    back: Option<(http1::SendRequest<RequestBody>, Arc<Upstream>)>,
}

impl HyperBody {
    fn finish(&mut self) {
        if let Some((sender, pool)) = self.back.take() {
            pool.checkin_hyper(sender);
        }
    }
}

impl Body for UpstreamBody {
    type Data = bytes::Bytes;
    type Error = ResponseBodyError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<bytes::Bytes>, ResponseBodyError>>> {
        match self.get_mut() {
            UpstreamBody::Lean(b) => b
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(ResponseBodyError::Lean))),
            UpstreamBody::Hyper(b) => {
                let frame = std::task::ready!(std::pin::Pin::new(&mut b.inner).poll_frame(cx));
                match &frame {
                    None => b.finish(),
                    Some(Err(_)) => b.back = None,
                    Some(Ok(_)) => {}
                }
                std::task::Poll::Ready(frame.map(|r| r.map_err(ResponseBodyError::Hyper)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            UpstreamBody::Lean(b) => b.is_end_stream(),
            UpstreamBody::Hyper(b) => b.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            UpstreamBody::Lean(b) => b.size_hint(),
            UpstreamBody::Hyper(b) => b.inner.size_hint(),
        }
    }
}

impl Drop for HyperBody {
    fn drop(&mut self) {
        // A body hyper never polled because it was empty is complete too.
        if self.inner.is_end_stream() {
            self.finish();
        }
    }
}
