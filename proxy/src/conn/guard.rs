//! Owns the HTTP/1 framing guard: a second, independent reading of the request
//! stream's framing (heads by httparse, bodies by Content-Length or chunk sizes)
//! that stops an ambiguous request before hyper ever sees its complete head, so it
//! can never reach the upstream.
//!
//! Ambiguous means: both Content-Length and Transfer-Encoding, more than one
//! Content-Length (even equal ones), a Content-Length other than plain digits
//! (`5, 5` too), more than one Transfer-Encoding, or a Transfer-Encoding other
//! than exactly `chunked`. hyper alone would normalise some of these (RFC 9112
//! §6.3 allows it); Palisade refuses them, as nginx does. Refused with them,
//! because an upstream could read them differently: `Content_Length` and
//! `Transfer_Encoding` (CGI-style servers map `_` to `-`), more than one Host,
//! and an HTTP/1.1 request without Host (RFC 9112 §3.2). Refused here too,
//! though hyper would refuse it as well: a request target that is not a URI
//! (`/a<b`, `a/b`, `http://[::1`), so that it gets Palisade's JSON reason and a
//! deny event instead of hyper's empty 400.
//!
//! Must not copy bytes in the common case (a head that arrives in one read is
//! parsed in place), and must not guess: where it cannot follow the framing it
//! either steps aside for hyper's own 400/431, or fails the read.

use httparse::{Header, Status};

/// What to do with bytes just read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inspect {
    /// Hand them all to hyper.
    Pass,
    /// A request head in them is ambiguous: hand only the first `keep` bytes to
    /// hyper (which then never holds a complete head) and reject the connection.
    Reject { keep: usize },
    /// The chunked framing is broken: hand hyper the first `keep` bytes (up to and
    /// including the bad part, so its own decoder fails the body and the client gets
    /// 400), then nothing more: the connection closes after this exchange.
    Broken { keep: usize },
    /// A chunk-size or trailer line longer than the guard follows: hand hyper
    /// the first `keep` bytes, then end-of-stream, so its body fails at once
    /// (400) rather than waiting for a line end; the connection then closes.
    Cut { keep: usize },
}

/// The method and target of a refused head, and why, for its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) method: http::Method,
    pub(crate) target: Box<str>,
    pub(crate) why: &'static str,
}

/// Tracks the framing of one HTTP/1 connection's request stream.
#[derive(Debug)]
pub(crate) struct H1Guard {
    state: State,
    /// The head that made the guard refuse the connection.
    rejected: Option<Target>,
    /// Bytes of a head or chunk line that spans reads.
    pending: Vec<u8>,
    max_head: usize,
    max_headers: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting or reading a request head.
    Head,
    /// Skipping this many bytes of a Content-Length body.
    Body(u64),
    /// Reading a chunk-size line.
    ChunkSize,
    /// Skipping this many bytes of chunk data.
    ChunkData(u64),
    /// Expecting the CR, then the LF, that ends chunk data.
    ChunkCr,
    ChunkLf,
    /// Reading trailer lines up to the empty line.
    Trailer,
    /// No longer following the stream: hyper rejects what comes next itself.
    Off,
}

/// The framing a complete head announces.
enum Framing {
    Length(u64),
    Chunked,
    /// Refused: ambiguous framing, or a head the upstream could read otherwise.
    Refuse(Target),
    /// Malformed in a way hyper answers itself (400 or 431).
    LeaveToHyper,
}

/// Longest chunk-size or trailer line we follow.
const MAX_LINE: usize = 4096;
/// Headers parsed on the stack; heads with more use a heap buffer.
const STACK_HEADERS: usize = 64;

impl H1Guard {
    pub(crate) fn new(max_head: usize, max_headers: usize) -> Self {
        Self {
            state: State::Head,
            rejected: None,
            pending: Vec::new(),
            max_head,
            max_headers,
        }
    }

    /// Follows the framing through `data`, the bytes just read.
    pub(crate) fn inspect(&mut self, data: &[u8]) -> Inspect {
        let mut pos = 0;
        while pos < data.len() {
            let rest = &data[pos..];
            match self.state {
                State::Off => return Inspect::Pass,
                State::Head => match self.feed_head(rest) {
                    None => return Inspect::Pass,
                    Some((used, Framing::Refuse(target))) => {
                        self.rejected = Some(target);
                        self.state = State::Off;
                        return Inspect::Reject {
                            keep: pos + used - 1,
                        };
                    }
                    Some((_, Framing::LeaveToHyper)) => {
                        self.state = State::Off;
                        return Inspect::Pass;
                    }
                    Some((used, Framing::Length(n))) => {
                        pos += used;
                        self.state = if n == 0 { State::Head } else { State::Body(n) };
                    }
                    Some((used, Framing::Chunked)) => {
                        pos += used;
                        self.state = State::ChunkSize;
                    }
                },
                State::Body(n) | State::ChunkData(n) => {
                    let take = n.min(rest.len() as u64);
                    pos += take as usize;
                    let left = n - take;
                    self.state = match (self.state, left) {
                        (State::Body(_), 0) => State::Head,
                        (State::Body(_), l) => State::Body(l),
                        (_, 0) => State::ChunkCr,
                        (_, l) => State::ChunkData(l),
                    };
                }
                State::ChunkCr | State::ChunkLf => {
                    let want = if self.state == State::ChunkCr {
                        b'\r'
                    } else {
                        b'\n'
                    };
                    if rest[0] != want {
                        return Inspect::Broken { keep: pos + 1 };
                    }
                    pos += 1;
                    self.state = if self.state == State::ChunkCr {
                        State::ChunkLf
                    } else {
                        State::ChunkSize
                    };
                }
                State::ChunkSize | State::Trailer => {
                    let Some(line_end) = memchr_nl(rest) else {
                        if self.pending.len() + rest.len() > MAX_LINE {
                            return Inspect::Cut { keep: pos };
                        }
                        self.pending.extend_from_slice(rest);
                        return Inspect::Pass;
                    };
                    let used = line_end + 1;
                    let next = if self.pending.is_empty() {
                        self.end_line(&rest[..used])
                    } else {
                        let mut line = std::mem::take(&mut self.pending);
                        line.extend_from_slice(&rest[..used]);
                        self.end_line(&line)
                    };
                    match next {
                        Some(s) => self.state = s,
                        None => return Inspect::Broken { keep: pos + used },
                    }
                    pos += used;
                }
            }
        }
        Inspect::Pass
    }

    /// The head that made the guard refuse the connection, if one did.
    pub(crate) fn rejected(&self) -> Option<&Target> {
        self.rejected.as_ref()
    }

    /// The state after a complete chunk-size or trailer line, or None if broken.
    fn end_line(&self, line: &[u8]) -> Option<State> {
        if self.state == State::Trailer {
            let empty = line == b"\r\n" || line == b"\n";
            return Some(if empty { State::Head } else { State::Trailer });
        }
        match httparse::parse_chunk_size(line) {
            Ok(Status::Complete((_, 0))) => Some(State::Trailer),
            Ok(Status::Complete((_, n))) => Some(State::ChunkData(n)),
            _ => None,
        }
    }

    /// Feeds head bytes. Returns how many bytes of `data` completed a head and the
    /// framing it announces, or None when the head is not complete yet (the bytes
    /// are kept).
    fn feed_head(&mut self, data: &[u8]) -> Option<(usize, Framing)> {
        if self.pending.is_empty() {
            return match self.parse_head(data) {
                Some((len, f)) => Some((len, f)),
                None => {
                    self.keep_partial(data);
                    None
                }
            };
        }
        let before = self.pending.len();
        let room = self.max_head.saturating_sub(before).max(1);
        let take = data.len().min(room);
        let mut buf = std::mem::take(&mut self.pending);
        buf.extend_from_slice(&data[..take]);
        match self.parse_head(&buf) {
            Some((len, f)) => Some((len - before, f)),
            None => {
                self.pending = buf;
                if self.pending.len() >= self.max_head {
                    // Too large: hyper answers 431 with the same cap.
                    return Some((take, Framing::LeaveToHyper));
                }
                None
            }
        }
    }

    fn keep_partial(&mut self, data: &[u8]) {
        if data.len() >= self.max_head {
            self.state = State::Off;
        } else {
            self.pending.extend_from_slice(data);
        }
    }

    /// Parses a head at the start of `buf`: its length and framing, or None if
    /// incomplete.
    fn parse_head(&self, buf: &[u8]) -> Option<(usize, Framing)> {
        let mut stack = [httparse::EMPTY_HEADER; STACK_HEADERS];
        let mut req = httparse::Request::new(&mut stack);
        match req.parse(buf) {
            Ok(Status::Complete(len)) => Some((len, framing(&req))),
            Ok(Status::Partial) => None,
            Err(httparse::Error::TooManyHeaders) if self.max_headers > STACK_HEADERS => {
                let mut heap = vec![httparse::EMPTY_HEADER; self.max_headers];
                let mut req = httparse::Request::new(&mut heap);
                match req.parse(buf) {
                    Ok(Status::Complete(len)) => Some((len, framing(&req))),
                    Ok(Status::Partial) => None,
                    Err(_) => Some((buf.len(), Framing::LeaveToHyper)),
                }
            }
            Err(_) => Some((buf.len(), Framing::LeaveToHyper)),
        }
    }
}

fn framing(req: &httparse::Request<'_, '_>) -> Framing {
    let headers: &[Header<'_>] = req.headers;
    // One pass: how many of each header that decides framing or routing.
    let (mut cl, mut te, mut host) = (None, None, 0usize);
    let (mut cls, mut tes) = (0usize, 0usize);
    let mut lookalike = false;
    for h in headers {
        let n = h.name.as_bytes();
        match n.len() {
            4 if n.eq_ignore_ascii_case(b"host") => host += 1,
            14 if n.eq_ignore_ascii_case(b"content-length") => {
                cls += 1;
                cl = Some(h.value);
            }
            17 if n.eq_ignore_ascii_case(b"transfer-encoding") => {
                tes += 1;
                te = Some(h.value);
            }
            14 | 17 => lookalike |= is_lookalike(n),
            _ => {}
        }
    }
    let refuse = |why| {
        Framing::Refuse(Target {
            method: req
                .method
                .and_then(|m| http::Method::from_bytes(m.as_bytes()).ok())
                .unwrap_or_default(),
            target: req.path.unwrap_or_default().into(),
            why,
        })
    };
    if req.path.is_some_and(|p| !is_uri(p)) {
        return refuse(WHY_TARGET);
    }
    if lookalike {
        return refuse(WHY_LOOKALIKE);
    }
    // RFC 9112 §3.2: more than one Host, or none in HTTP/1.1, is answered 400.
    if host > 1 || (host == 0 && req.version == Some(1)) {
        return refuse(WHY_HOST);
    }
    match (cls, cl, tes, te) {
        (0, _, 0, _) => Framing::Length(0),
        // Only plain digits: a list (`5, 5`), which hyper would collapse and a
        // back end might not, is refused with the rest.
        (1, Some(v), 0, _) => match std::str::from_utf8(v)
            .ok()
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u64>().ok())
        {
            Some(n) => Framing::Length(n),
            None => refuse(WHY_FRAMING),
        },
        (0, _, 1, Some(v)) if v.trim_ascii().eq_ignore_ascii_case(b"chunked") => Framing::Chunked,
        _ => refuse(WHY_FRAMING),
    }
}

/// Whether hyper will take `target` as a request URI. It parses it with
/// `http::Uri`; an origin-form target (`/path?query`) without a byte that
/// parser refuses there (httparse lets `"`, `<`, `>` and `` ` `` through) is
/// known good without parsing it again.
fn is_uri(target: &str) -> bool {
    let b = target.as_bytes();
    if b.first() == Some(&b'/') && !b.iter().any(|c| matches!(c, b'"' | b'<' | b'>' | b'`')) {
        return true;
    }
    http::Uri::try_from(target).is_ok()
}

/// `Content_Length` or `Transfer_Encoding` in any case: servers that map
/// header names to CGI-style variables (WSGI, PHP) read them as the real ones.
fn is_lookalike(name: &[u8]) -> bool {
    let real: &[u8] = if name.len() == 14 {
        b"content-length"
    } else {
        b"transfer-encoding"
    };
    name.contains(&b'_')
        && name
            .iter()
            .zip(real)
            .all(|(&a, &b)| a.eq_ignore_ascii_case(&b) || (a == b'_' && b == b'-'))
}

const WHY_FRAMING: &str = "ambiguous request framing (request smuggling?)";
const WHY_HOST: &str = "no Host, or more than one";
const WHY_LOOKALIKE: &str = "a header spelled like a framing header with `_` for `-`";
const WHY_TARGET: &str =
    "a request target that is not a URI: send /path?query with \", <, > and ` percent-encoded";

fn memchr_nl(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

#[cfg(test)]
mod tests;
