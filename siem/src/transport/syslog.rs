//! Owns syslog delivery: RFC 5424 messages carrying CEF, framed by octet counting
//! (RFC 6587) over TCP or TLS (RFC 5425), or one per datagram over UDP (RFC 5426).
//!
//! TCP acknowledges nothing, so "accepted" means written and flushed on a
//! connection the receiver has not closed: before each batch the connection is
//! polled, and one the receiver closed (a restart, a crash) is replaced instead of
//! swallowing the batch into a dead socket. Must not hold a record in a buffer
//! across calls.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use palisade_models::{SiemRecord, SiemSource};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::SendError;
use crate::format::syslog::{SyslogOptions, message, octet_frame};

/// How the messages travel.
pub enum Mode {
    Tcp,
    Tls {
        connector: TlsConnector,
        name: ServerName<'static>,
    },
    Udp,
}

impl std::fmt::Debug for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Tcp => "tcp",
            Mode::Tls { .. } => "tls",
            Mode::Udp => "udp",
        })
    }
}

enum Conn {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Udp(UdpSocket),
}

/// A syslog receiver.
pub struct Syslog {
    address: String,
    mode: Mode,
    timeout: Duration,
    source: SiemSource,
    options: SyslogOptions,
    conn: Option<Conn>,
}

impl std::fmt::Debug for Syslog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Syslog")
            .field("address", &self.address)
            .field("mode", &self.mode)
            .field("connected", &self.conn.is_some())
            .finish_non_exhaustive()
    }
}

impl Syslog {
    pub fn new(
        address: String,
        mode: Mode,
        timeout: Duration,
        source: SiemSource,
        options: SyslogOptions,
    ) -> Self {
        Self {
            address,
            mode,
            timeout,
            source,
            options,
            conn: None,
        }
    }

    /// The TLS connector for `config`, verifying the receiver as `name`.
    pub fn tls(config: Arc<rustls::ClientConfig>, name: ServerName<'static>) -> Mode {
        Mode::Tls {
            connector: TlsConnector::from(config),
            name,
        }
    }

    pub async fn send(&mut self, records: &[SiemRecord]) -> Result<(), SendError> {
        if self.conn.as_mut().is_some_and(closed_by_peer) {
            self.conn = None;
        }
        let timeout = self.timeout;
        let result = tokio::time::timeout(timeout, self.try_send(records)).await;
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                self.conn = None;
                Err(SendError::Retry(format!("syslog {}: {e}", self.address)))
            }
            Err(_) => {
                self.conn = None;
                Err(SendError::Retry(format!(
                    "syslog {}: no progress within {timeout:?}",
                    self.address
                )))
            }
        }
    }

    async fn try_send(&mut self, records: &[SiemRecord]) -> std::io::Result<()> {
        if self.conn.is_none() {
            self.conn = Some(self.connect().await?);
        }
        let messages = records
            .iter()
            .map(|r| message(r, &self.source, &self.options));
        match self.conn.as_mut() {
            Some(Conn::Udp(socket)) => {
                for m in messages {
                    socket.send(&m).await?;
                }
                Ok(())
            }
            Some(Conn::Tcp(stream)) => write_framed(stream, messages).await,
            Some(Conn::Tls(stream)) => write_framed(stream.as_mut(), messages).await,
            None => Err(std::io::Error::other("not connected")),
        }
    }

    async fn connect(&self) -> std::io::Result<Conn> {
        match &self.mode {
            Mode::Udp => {
                let target = tokio::net::lookup_host(&self.address)
                    .await?
                    .next()
                    .ok_or_else(|| std::io::Error::other("the address resolves to nothing"))?;
                let local = if target.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                let socket = UdpSocket::bind(local).await?;
                socket.connect(target).await?;
                Ok(Conn::Udp(socket))
            }
            Mode::Tcp => {
                let stream = TcpStream::connect(&self.address).await?;
                stream.set_nodelay(true)?;
                Ok(Conn::Tcp(stream))
            }
            Mode::Tls { connector, name } => {
                let stream = TcpStream::connect(&self.address).await?;
                stream.set_nodelay(true)?;
                let tls = connector.connect(name.clone(), stream).await?;
                Ok(Conn::Tls(Box::new(tls)))
            }
        }
    }
}

/// Writes every message with its octet count, then flushes.
async fn write_framed<W: AsyncWrite + Unpin>(
    w: &mut W,
    messages: impl Iterator<Item = Vec<u8>>,
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    for m in messages {
        buf.extend_from_slice(&octet_frame(&m));
    }
    w.write_all(&buf).await?;
    w.flush().await
}

/// True if the receiver has closed the connection (or it failed): a read that
/// completes at once with end-of-stream or an error. A syslog receiver sends
/// nothing, so anything it did send is read and dropped.
fn closed_by_peer(conn: &mut Conn) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    let mut scratch = [0u8; 512];
    loop {
        let mut buf = ReadBuf::new(&mut scratch);
        let poll = match conn {
            Conn::Udp(_) => return false,
            Conn::Tcp(s) => Pin::new(s).poll_read(&mut cx, &mut buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(&mut cx, &mut buf),
        };
        match poll {
            Poll::Pending => return false,
            Poll::Ready(Ok(())) if buf.filled().is_empty() => return true,
            Poll::Ready(Ok(())) => continue,
            Poll::Ready(Err(_)) => return true,
        }
    }
}
