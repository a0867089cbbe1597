//! Owns the lean HTTP/1.1 exchange with the upstream, used for requests without
//! a body (GET, HEAD, DELETE…: most of an API's traffic). The request head is
//! written and the response head read in the request's own task, and the body is
//! read straight from the socket as the client's side asks for it.
//!
//! Why not hyper's client here: its connection task, the dispatch channel between
//! it and the request, and its general-purpose state machine cost about a third
//! of the user-space instructions Palisade spends on a proxied request
//! (callgrind, `FULL=1 bench/instructions.sh`). Requests with a body keep hyper's
//! client (`super::Upstream::send`), which streams both ways at once.
//!
//! Parsing is httparse's, as in hyper; this module does the framing (RFC 9112
//! §6): no body after HEAD, 1xx, 204 and 304; chunked when the last transfer
//! coding is chunked; otherwise Content-Length; otherwise until the close.
//! Must never reuse a connection whose response was not read to its end, was
//! framed by the close, or carried bytes past its end.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, Version};
use http_body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::UPSTREAM_BUF;

/// The most header lines a response may have (hyper's client allows 100).
const MAX_HEADERS: usize = 100;
/// Room made in the read buffer before each read.
const READ_CHUNK: usize = 16 * 1024;
/// The longest chunk-size line accepted (with extensions).
const MAX_CHUNK_LINE: usize = 4 * 1024;

/// Why a lean exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum LeanError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("the upstream closed the connection before it answered")]
    ClosedBeforeResponse,
    #[error("the upstream closed the connection in the middle of a response")]
    ClosedEarly,
    #[error("the upstream's response is malformed: {0}")]
    Malformed(&'static str),
    #[error("the upstream answered 101 Switching Protocols, which was not asked for")]
    UnaskedUpgrade,
    #[error("the upstream's response head is too large")]
    HeadTooLarge,
}

impl LeanError {
    /// Nothing of a response came back: on a kept-alive connection this is the
    /// upstream having closed it just as it was reused.
    pub(crate) fn nothing_received(&self) -> bool {
        match self {
            LeanError::ClosedBeforeResponse => true,
            LeanError::Io(e) => matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionAborted
            ),
            _ => false,
        }
    }
}

/// The stream under a connection: TCP, or rustls over TCP.
#[derive(Debug)]
pub(crate) enum Io {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

/// One kept-alive connection and its buffers.
#[derive(Debug)]
pub(crate) struct Conn {
    io: Io,
    /// Bytes read from the upstream and not yet handed on.
    read: BytesMut,
    /// The request head being written, reused from request to request.
    write: Vec<u8>,
}

/// How the response body is delimited, and how far it has been read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// This many bytes are left.
    Length(u64),
    Chunked(Chunk),
    /// Until the upstream closes; the connection cannot be reused.
    Close,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
}

/// A parsed response head, and what it says about the rest of the exchange.
#[derive(Debug)]
pub(crate) struct Head {
    response: Response<()>,
    framing: Framing,
    keep_alive: bool,
}

impl Conn {
    pub(crate) fn new(io: Io) -> Self {
        Self {
            io,
            read: BytesMut::new(),
            write: Vec::with_capacity(1024),
        }
    }

    /// Whether an idle connection is still fit to send on: nothing may have
    /// arrived on it since its last response, not even the upstream's close. A
    /// read that must not wait: it costs a syscall only when the runtime saw the
    /// socket become readable, and under TLS it takes in what carries no data
    /// (a session ticket) and sees a close_notify as the end it is.
    pub(crate) fn idle_and_open(&mut self) -> bool {
        if !self.read.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut probe = [0u8; 1];
        let mut buf = ReadBuf::new(&mut probe);
        // Pending: nothing to read, still open. Ready: the end, bytes nobody
        // asked for, or an error; none leaves the connection fit for a request.
        Pin::new(&mut self.io)
            .poll_read(&mut cx, &mut buf)
            .is_pending()
    }

    /// Writes a request without a body and reads the response head.
    pub(crate) async fn exchange(&mut self, req: &http::request::Parts) -> Result<Head, LeanError> {
        self.write.clear();
        encode_head(req, &mut self.write);
        self.io.write_all(&self.write).await?;
        self.io.flush().await?;
        self.read_head(req.method == Method::HEAD).await
    }

    async fn read_head(&mut self, to_head: bool) -> Result<Head, LeanError> {
        let mut answered = false;
        loop {
            if !self.read.is_empty() {
                answered = true;
                match parse_head(&mut self.read, to_head)? {
                    Parsed::Head(h) => return Ok(h),
                    // A 1xx before the answer: dropped, as hyper's client does.
                    Parsed::Informational => continue,
                    Parsed::Partial => {}
                }
            }
            if self.read.len() >= UPSTREAM_BUF {
                return Err(LeanError::HeadTooLarge);
            }
            self.read.reserve(READ_CHUNK);
            let n = std::future::poll_fn(|cx| {
                tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.read)
            })
            .await?;
            if n == 0 {
                return Err(if answered {
                    LeanError::ClosedEarly
                } else {
                    LeanError::ClosedBeforeResponse
                });
            }
        }
    }

    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.read.capacity() - self.read.len() < READ_CHUNK / 4 {
            self.read.reserve(READ_CHUNK);
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.read)
    }
}

/// The request head, origin form, header names as stored (lower case).
fn encode_head(req: &http::request::Parts, out: &mut Vec<u8>) {
    out.extend_from_slice(req.method.as_str().as_bytes());
    out.push(b' ');
    let target = req.uri.path_and_query().map_or("/", |p| p.as_str());
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in &req.headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

enum Parsed {
    Head(Head),
    Informational,
    Partial,
}

/// Parses one response head off the front of `buf`.
fn parse_head(buf: &mut BytesMut, to_head: bool) -> Result<Parsed, LeanError> {
    // Where each name and value lies in `buf`, so the values can share the
    // buffer's memory once it is frozen rather than be copied one by one.
    let mut spans = [(0u32, 0u32, 0u32, 0u32); MAX_HEADERS];
    let (len, code, version, count) = {
        let mut lines = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut []);
        let parsed = httparse::ParserConfig::default()
            .parse_response_with_uninit_headers(&mut resp, buf, &mut lines);
        let len = match parsed {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(LeanError::Malformed("more than 100 header lines"));
            }
            Err(_) => {
                return Err(LeanError::Malformed(
                    "the status line or a header is invalid",
                ));
            }
        };
        let base = buf.as_ptr() as usize;
        let at = |s: &[u8]| (s.as_ptr() as usize - base) as u32;
        for (span, h) in spans.iter_mut().zip(resp.headers.iter()) {
            let name = at(h.name.as_bytes());
            let value = at(h.value);
            *span = (
                name,
                name + h.name.len() as u32,
                value,
                value + h.value.len() as u32,
            );
        }
        (
            len,
            resp.code.unwrap_or(0),
            resp.version.unwrap_or(1),
            resp.headers.len(),
        )
    };
    let status = StatusCode::from_u16(code).map_err(|_| LeanError::Malformed("bad status code"))?;
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return Err(LeanError::UnaskedUpgrade);
    }
    if status.is_informational() {
        buf.advance(len);
        return Ok(Parsed::Informational);
    }
    let head = buf.split_to(len).freeze();
    let mut headers = HeaderMap::with_capacity(count);
    // The framing headers are read on the way: looking them up afterwards would
    // hash and probe the map again for each.
    let mut length = Ok(None);
    let mut coded = None;
    let mut close = false;
    for &(ns, ne, vs, ve) in &spans[..count] {
        let name = HeaderName::from_bytes(&head[ns as usize..ne as usize])
            .map_err(|_| LeanError::Malformed("a header name is invalid"))?;
        let raw = &head[vs as usize..ve as usize];
        if name == CONTENT_LENGTH {
            length = merge_length(length, raw);
        } else if name == TRANSFER_ENCODING {
            // The last coding of the last header is the one that frames.
            coded = Some(last_token(raw).eq_ignore_ascii_case(b"chunked"));
        } else if name == CONNECTION {
            close |= raw
                .split(|&b| b == b',')
                .any(|t| trim(t).eq_ignore_ascii_case(b"close"));
        }
        let value = HeaderValue::from_maybe_shared(head.slice(vs as usize..ve as usize))
            .map_err(|_| LeanError::Malformed("a header value is invalid"))?;
        headers.append(name, value);
    }

    let mut keep_alive = version == 1 && !close;
    let framing =
        if to_head || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
            Framing::Done
        } else if let Some(chunked) = coded {
            if headers.remove(CONTENT_LENGTH).is_some() {
                // Both: the transfer coding wins (RFC 9112 §6.3), and a connection
                // that carried such a message is not trusted with another.
                keep_alive = false;
            }
            if chunked {
                Framing::Chunked(Chunk::Size)
            } else {
                Framing::Close
            }
        } else if let Some(n) = length.map_err(LeanError::Malformed)? {
            Framing::Length(n)
        } else {
            Framing::Close
        };
    if framing == Framing::Close {
        keep_alive = false;
    }
    let mut response = Response::new(());
    *response.status_mut() = status;
    *response.version_mut() = if version == 1 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    *response.headers_mut() = headers;
    Ok(Parsed::Head(Head {
        response,
        framing,
        keep_alive,
    }))
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn last_token(value: &[u8]) -> &[u8] {
    trim(value.rsplit(|&b| b == b',').next().unwrap_or_default())
}

/// Folds one Content-Length value into what the earlier ones said: every value
/// (repeated headers, comma lists) must be the same number, else the length is
/// in doubt.
fn merge_length(
    found: Result<Option<u64>, &'static str>,
    value: &[u8],
) -> Result<Option<u64>, &'static str> {
    let mut found = found?;
    for part in value.split(|&b| b == b',') {
        let part = trim(part);
        if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
            return Err("Content-Length is not a number (of at most 19 digits)");
        }
        let n = part.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
        if found.is_some_and(|f| f != n) {
            return Err("Content-Length values disagree");
        }
        found = Some(n);
    }
    Ok(found)
}

/// A response body read from a lean connection.
#[derive(Debug)]
pub(crate) struct LeanBody {
    /// None once the body is over (the connection went back to the pool or was
    /// closed).
    conn: Option<Conn>,
    framing: Framing,
    keep_alive: bool,
    pool: std::sync::Arc<super::Upstream>,
}

impl LeanBody {
    /// The response to a lean exchange, its body reading on from `conn`.
    pub(crate) fn response(
        conn: Conn,
        head: Head,
        pool: std::sync::Arc<super::Upstream>,
    ) -> Response<LeanBody> {
        let mut body = LeanBody {
            conn: Some(conn),
            framing: head.framing,
            keep_alive: head.keep_alive,
            pool,
        };
        if matches!(body.framing, Framing::Done | Framing::Length(0)) {
            body.finish();
        }
        head.response.map(|()| body)
    }

    /// The body is over: the connection goes back to the pool if it can carry
    /// another exchange.
    fn finish(&mut self) {
        self.framing = Framing::Done;
        if let Some(conn) = self.conn.take()
            && self.keep_alive
            && conn.read.is_empty()
        {
            self.pool.checkin_lean(conn);
        }
    }

    /// Something went wrong: the connection is closed with the body.
    fn fail(&mut self, e: LeanError) -> Poll<Option<Result<Frame<Bytes>, LeanError>>> {
        self.framing = Framing::Done;
        self.conn = None;
        Poll::Ready(Some(Err(e)))
    }

    /// Hands on up to `left` buffered bytes of body data.
    fn take_data(conn: &mut Conn, left: u64) -> (Bytes, u64) {
        let n = (conn.read.len() as u64).min(left) as usize;
        (conn.read.split_to(n).freeze(), left - n as u64)
    }

    pub(crate) fn is_end_stream(&self) -> bool {
        self.framing == Framing::Done
    }

    pub(crate) fn size_hint(&self) -> SizeHint {
        match self.framing {
            Framing::Length(n) => SizeHint::with_exact(n),
            Framing::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }

    pub(crate) fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, LeanError>>> {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match self.framing {
                Framing::Done => return Poll::Ready(None),
                Framing::Length(left) if !conn.read.is_empty() => {
                    let (data, left) = Self::take_data(conn, left);
                    self.framing = Framing::Length(left);
                    if left == 0 {
                        self.finish();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Framing::Close if !conn.read.is_empty() => {
                    return Poll::Ready(Some(Ok(Frame::data(conn.read.split().freeze()))));
                }
                Framing::Chunked(Chunk::Data(left)) if !conn.read.is_empty() => {
                    let (data, left) = Self::take_data(conn, left);
                    self.framing = Framing::Chunked(if left == 0 {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left)
                    });
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Framing::Chunked(Chunk::Data(_)) => {}
                Framing::Chunked(step) => match chunk_step(&mut conn.read, step) {
                    Err(e) => return self.fail(e),
                    Ok(Step::More) => {}
                    Ok(Step::Next(next)) => {
                        self.framing = Framing::Chunked(next);
                        continue;
                    }
                    Ok(Step::End(trailers)) => {
                        self.finish();
                        match trailers {
                            Some(t) => return Poll::Ready(Some(Ok(Frame::trailers(t)))),
                            None => return Poll::Ready(None),
                        }
                    }
                },
                // Nothing buffered: read.
                _ => {}
            }
            let Some(conn) = self.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match ready!(conn.poll_fill(cx)) {
                Err(e) => return self.fail(LeanError::Io(e)),
                Ok(0) if self.framing == Framing::Close => {
                    self.keep_alive = false;
                    self.finish();
                    return Poll::Ready(None);
                }
                Ok(0) => return self.fail(LeanError::ClosedEarly),
                Ok(_) => {}
            }
        }
    }
}

enum Step {
    /// More bytes are needed.
    More,
    Next(Chunk),
    /// The last chunk and its trailers (None when there are none) were read.
    End(Option<HeaderMap>),
}

/// One step of chunked decoding that needs no data to be handed on.
fn chunk_step(buf: &mut BytesMut, step: Chunk) -> Result<Step, LeanError> {
    match step {
        Chunk::Size => match httparse::parse_chunk_size(buf) {
            Ok(httparse::Status::Complete((n, size))) => {
                buf.advance(n);
                Ok(Step::Next(if size == 0 {
                    Chunk::Trailers
                } else {
                    Chunk::Data(size)
                }))
            }
            Ok(httparse::Status::Partial) if buf.len() > MAX_CHUNK_LINE => {
                Err(LeanError::Malformed("a chunk-size line is too long"))
            }
            Ok(httparse::Status::Partial) => Ok(Step::More),
            Err(_) => Err(LeanError::Malformed("a chunk size is invalid")),
        },
        Chunk::DataEnd => {
            if buf.len() < 2 {
                return Ok(Step::More);
            }
            if &buf[..2] != b"\r\n" {
                return Err(LeanError::Malformed("a chunk does not end with CRLF"));
            }
            buf.advance(2);
            Ok(Step::Next(Chunk::Size))
        }
        Chunk::Trailers => {
            if buf.starts_with(b"\r\n") {
                buf.advance(2);
                return Ok(Step::End(None));
            }
            let mut lines = [httparse::EMPTY_HEADER; MAX_HEADERS];
            match httparse::parse_headers(buf, &mut lines) {
                Ok(httparse::Status::Complete((n, lines))) => {
                    let mut trailers = HeaderMap::with_capacity(lines.len());
                    for h in lines.iter() {
                        let name = HeaderName::from_bytes(h.name.as_bytes())
                            .map_err(|_| LeanError::Malformed("a trailer name is invalid"))?;
                        let value = HeaderValue::from_bytes(h.value)
                            .map_err(|_| LeanError::Malformed("a trailer value is invalid"))?;
                        trailers.append(name, value);
                    }
                    buf.advance(n);
                    Ok(Step::End(Some(trailers)))
                }
                Ok(httparse::Status::Partial) if buf.len() >= UPSTREAM_BUF => {
                    Err(LeanError::Malformed("the trailers are too large"))
                }
                Ok(httparse::Status::Partial) => Ok(Step::More),
                Err(_) => Err(LeanError::Malformed("a trailer is invalid")),
            }
        }
        // Data is handed on by the caller; nothing to do here.
        Chunk::Data(_) => Ok(Step::More),
    }
}

#[cfg(test)]
mod tests;
