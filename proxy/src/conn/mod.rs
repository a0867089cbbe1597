//! Owns one client connection from accept to close: the TLS handshake, the choice
//! of protocol (ALPN, or the HTTP/2 preface on a plain socket), hyper's HTTP/1 or
//! HTTP/2 server over the tracked stream, and the driver that enforces the
//! header-read (408), idle and send (stalled reader) timeouts, answers the framing guard's refusals (400)
//! and drains on shutdown.
//!
//! Must not hold a request longer than its phases do: once the driver returns, the
//! connection is gone.

mod guard;
mod io;
mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use palisade_models::{Denial, DenyCode, Phase as DenyPhase, Protocol, RequestEvent, unix_us};

pub use state::ConnInfo;
use state::{Phase, Refusal};

use crate::context::new_request_id;
use crate::deny::DenyEvent;
use crate::pipeline;
use crate::respond;
use crate::server::Worker;
use guard::H1Guard;
use io::TrackedIo;

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// How long we try to deliver a 408 or 400 before giving up on the client.
const REFUSAL_WRITE: Duration = Duration::from_secs(1);

/// Serves a plain-TCP connection.
pub(crate) async fn serve_plain(
    mut stream: TcpStream,
    peer: SocketAddr,
    w: Arc<Worker>,
    shutdown: CancellationToken,
) {
    let s = &w.shared.settings;
    let mut prefix = BytesMut::with_capacity(H2_PREFACE.len());
    let h2 = match tokio::time::timeout(s.header_read_timeout, sniff_h2(&mut stream, &mut prefix))
        .await
    {
        Ok(Ok(h2)) => h2,
        Ok(Err(_)) => return,
        Err(_) => {
            header_timeout(peer, &w);
            write_refusal(stream, DenyCode::HeaderTimeout, &w).await;
            return;
        }
    };
    serve(stream, prefix.freeze(), peer, false, h2, w, shutdown).await;
}

/// Serves a TLS connection; the handshake counts against the header-read timeout.
pub(crate) async fn serve_tls(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    w: Arc<Worker>,
    shutdown: CancellationToken,
) {
    let handshake = tokio::time::timeout(
        w.shared.settings.header_read_timeout,
        acceptor.accept(stream),
    )
    .await;
    let tls = match handshake {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            w.shared.stats.count_tls_failure();
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            w.shared.stats.count_tls_failure();
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    serve(tls, Bytes::new(), peer, true, h2, w, shutdown).await;
}

/// Reads until the bytes either are the HTTP/2 preface or cannot be; returns
/// true for HTTP/2. The bytes read are kept in `buf` for hyper.
async fn sniff_h2(stream: &mut TcpStream, buf: &mut BytesMut) -> std::io::Result<bool> {
    loop {
        let n = stream.read_buf(buf).await?;
        if n == 0 || !H2_PREFACE.starts_with(buf) {
            return Ok(false);
        }
        if buf.len() >= H2_PREFACE.len() {
            return Ok(true);
        }
    }
}

async fn serve<S>(
    stream: S,
    prefix: Bytes,
    peer: SocketAddr,
    tls: bool,
    h2: bool,
    w: Arc<Worker>,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let trusted = w.shared.settings.is_trusted(&peer.ip());
    let info = Arc::new(ConnInfo::new(peer, trusted, tls, !h2));
    let svc = {
        let (w, info) = (w.clone(), info.clone());
        service_fn(move |req| pipeline::handle(req, w.clone(), info.clone()))
    };
    let s = &w.shared.settings;
    if h2 {
        let io = TokioIo::new(TrackedIo::new(stream, info.clone(), None, prefix));
        let conn = w.h2.serve_connection(io, svc);
        // HTTP/2 connections never wait for a head or get refused by the guard.
        let _ = drive(conn, &info, &w, &shutdown, |c| c.graceful_shutdown()).await;
        return;
    }
    let guard = H1Guard::new(s.max_header_bytes, s.max_header_count);
    let io = TokioIo::new(TrackedIo::new(stream, info.clone(), Some(guard), prefix));
    let conn = w.h1.serve_connection(io, svc);
    match drive(conn, &info, &w, &shutdown, |c| c.graceful_shutdown()).await {
        End::Done => {}
        End::HeaderTimeout(conn) => {
            header_timeout(peer, &w);
            let tracked = conn.into_parts().io.into_inner();
            write_refusal(tracked.into_inner(), DenyCode::HeaderTimeout, &w).await;
        }
        End::Refused(conn) => {
            let tracked = conn.into_parts().io.into_inner();
            let id = new_request_id();
            let target = tracked.guard().and_then(H1Guard::rejected);
            let path = target.map(|t| t.target.split('?').next().unwrap_or_default());
            DenyEvent {
                phase: DenyPhase::Accept,
                code: DenyCode::BadRequest,
                client: peer.ip(),
                request_id: id.to_str().unwrap_or_default(),
                method: target.map(|t| t.method.as_str()),
                path,
                api_key_id: None,
                detail: Some(target.map_or("ambiguous request head", |t| t.why)),
            }
            .emit(&w.shared.stats);
            if let Some(target) = target {
                w.shared.tee.push(refusal_event(&info, target, &id));
            }
            write_refusal_with(tracked.into_inner(), DenyCode::BadRequest, &id, &w).await;
        }
    }
}

/// Logs and counts a connection that sent no complete head in time.
fn header_timeout(peer: SocketAddr, w: &Worker) {
    DenyEvent {
        phase: DenyPhase::Accept,
        code: DenyCode::HeaderTimeout,
        client: peer.ip(),
        request_id: "",
        method: None,
        path: None,
        api_key_id: None,
        detail: None,
    }
    .emit(&w.shared.stats);
}

/// How the driver let go of a connection.
enum End<C> {
    /// Finished: by hyper (client closed, error, shutdown), by the idle timeout,
    /// or after the guard lost the framing.
    Done,
    /// No complete head in time: answer 408.
    HeaderTimeout(C),
    /// The guard refused an ambiguous head: answer 400.
    Refused(C),
}

/// Polls the connection until it ends, enforcing timeouts and refusals.
async fn drive<C, G>(
    mut conn: C,
    info: &ConnInfo,
    w: &Worker,
    shutdown: &CancellationToken,
    mut graceful: G,
) -> End<C>
where
    C: Future<Output = hyper::Result<()>> + Unpin,
    G: FnMut(Pin<&mut C>),
{
    let s = &w.shared.settings;
    let first = s
        .header_read_timeout
        .min(s.idle_timeout)
        .min(s.send_timeout / 2);
    let sleep = tokio::time::sleep(first);
    tokio::pin!(sleep);
    let mut draining = false;
    loop {
        match info.state.refused() {
            Some(Refusal::Ambiguous) if info.state.in_flight() == 0 => return End::Refused(conn),
            Some(Refusal::Close | Refusal::Cut) if info.state.in_flight() == 0 => return End::Done,
            _ => {}
        }
        tokio::select! {
            biased;
            res = &mut conn => {
                if let Err(e) = res {
                    tracing::debug!(peer = %info.peer, error = %e, "connection ended with an error");
                }
                return End::Done;
            }
            () = std::future::poll_fn(|cx| info.state.poll_poked(cx)) => {}
            () = shutdown.cancelled(), if !draining => {
                draining = true;
                graceful(Pin::new(&mut conn));
            }
            () = &mut sleep => {
                // A client that reads nothing (or a byte now and then) holds its
                // response in our buffers: cut it once a write waits too long.
                let stall = info.state.write_stall();
                if stall.is_some_and(|d| d >= s.send_timeout) {
                    w.shared.stats.count_send_timeout();
                    tracing::debug!(peer = %info.peer, "client stopped reading its response; connection cut (proxy.timeouts.send)");
                    return End::Done;
                }
                // When a stalled write will reach the send timeout; or, with none
                // stalled, a look twice per send timeout so a stall that begins now
                // is cut within 1.5 times the timeout.
                let send_check = stall.map_or(s.send_timeout / 2, |d| s.send_timeout - d);
                let (phase, elapsed) = info.state.phase();
                let limit = match phase {
                    Phase::Head => s.header_read_timeout,
                    Phase::Idle => s.idle_timeout,
                    Phase::Busy => {
                        sleep.as_mut().reset(Instant::now() + send_check);
                        continue;
                    }
                };
                if elapsed < limit {
                    let next = (limit - elapsed).min(send_check);
                    sleep.as_mut().reset(Instant::now() + next);
                } else if phase == Phase::Head {
                    return End::HeaderTimeout(conn);
                } else {
                    return End::Done;
                }
            }
        }
    }
}

/// Writes a denial made below hyper, then closes.
async fn write_refusal<S: AsyncWrite + Unpin>(stream: S, code: DenyCode, w: &Worker) {
    write_refusal_with(stream, code, &new_request_id(), w).await;
}

async fn write_refusal_with<S: AsyncWrite + Unpin>(
    mut stream: S,
    code: DenyCode,
    request_id: &http::HeaderValue,
    w: &Worker,
) {
    let bytes = respond::raw_denial(code, request_id, &w.shared.settings.request_id_header);
    let _ = tokio::time::timeout(REFUSAL_WRITE, async {
        stream.write_all(&bytes).await?;
        stream.shutdown().await
    })
    .await;
}

/// The event of a request the guard refused before hyper parsed it.
fn refusal_event(
    info: &ConnInfo,
    target: &guard::Target,
    request_id: &http::HeaderValue,
) -> RequestEvent {
    let path = target.target.split('?').next().unwrap_or_default();
    RequestEvent {
        ts_unix_us: unix_us(std::time::SystemTime::now()),
        request_id: request_id.to_str().unwrap_or_default().into(),
        client_ip: info.peer.ip(),
        peer_ip: info.peer.ip(),
        peer_port: info.peer.port(),
        subject: None,
        api_key_id: None,
        token_id: None,
        scopes: None,
        method: target.method.clone(),
        host: None,
        path: path.into(),
        query_keys: None,
        route: None,
        undeclared: false,
        status: respond::status_of(DenyCode::BadRequest).as_u16(),
        deny: Some(Denial {
            phase: DenyPhase::Accept,
            code: DenyCode::BadRequest,
        }),
        latency_us: 0,
        upstream_latency_us: None,
        bytes_in: 0,
        bytes_out: 0,
        user_agent: None,
        protocol: Protocol::Http11,
        tls: info.tls,
        login: None,
        signatures: None,
        schema: None,
    }
}
