//! HTTP/2 frames written by hand, for what no HTTP/2 client library will send:
//! connection-specific headers, header values with CR/LF, uppercase names,
//! content-length that disagrees with the DATA frames. Prior knowledge (h2c) on
//! a plain socket. Header blocks are HPACK literals without indexing and
//! without Huffman, so any field is sent byte for byte; of the answer only the
//! `:status` is decoded (hyper's encoder puts it first).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;
/// RFC 9113 §7 error codes.
pub const PROTOCOL_ERROR: u32 = 0x1;
/// Longest a test waits for the server's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// What the server did with a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A response head with this status.
    Response(u16),
    /// RST_STREAM with this error code.
    Reset(u32),
    /// GOAWAY with this error code, before any answer on the stream.
    GoAway(u32),
    /// The connection closed before any answer.
    Closed,
}

/// A raw HTTP/2 client connection.
#[derive(Debug)]
pub struct H2Conn {
    s: TcpStream,
}

impl H2Conn {
    /// Connects and sends the preface and an empty SETTINGS frame.
    pub async fn connect(addr: SocketAddr) -> H2Conn {
        let mut s = TcpStream::connect(addr).await.expect("connect h2");
        s.write_all(PREFACE).await.expect("write preface");
        let mut c = H2Conn { s };
        c.frame(SETTINGS, 0, 0, &[]).await;
        c
    }

    /// Sends one HEADERS frame (END_HEADERS, and END_STREAM if `end`) carrying
    /// `fields` exactly as given.
    pub async fn headers(&mut self, stream: u32, fields: &[(&[u8], &[u8])], end: bool) {
        let mut block = Vec::new();
        for (name, value) in fields {
            block.push(0x00); // literal without indexing, new name
            string(&mut block, name);
            string(&mut block, value);
        }
        let flags = END_HEADERS | if end { END_STREAM } else { 0 };
        self.frame(HEADERS, flags, stream, &block).await;
    }

    /// Sends one DATA frame.
    pub async fn data(&mut self, stream: u32, data: &[u8], end: bool) {
        self.frame(DATA, if end { END_STREAM } else { 0 }, stream, data)
            .await;
    }

    async fn frame(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        let len = u32::try_from(payload.len()).expect("frame length");
        let mut f = Vec::with_capacity(9 + payload.len());
        f.extend_from_slice(&len.to_be_bytes()[1..]);
        f.push(kind);
        f.push(flags);
        f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
        f.extend_from_slice(payload);
        self.s.write_all(&f).await.expect("write frame");
    }

    /// Reads frames until the server answers `stream` (response head or
    /// reset), gives up the connection, or closes it. Acknowledges SETTINGS.
    pub async fn outcome(&mut self, stream: u32) -> Outcome {
        tokio::time::timeout(ANSWER_TIMEOUT, self.read_outcome(stream))
            .await
            .expect("no answer on the HTTP/2 stream in time")
    }

    async fn read_outcome(&mut self, stream: u32) -> Outcome {
        loop {
            let mut head = [0u8; 9];
            if self.s.read_exact(&mut head).await.is_err() {
                return Outcome::Closed;
            }
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let (kind, flags) = (head[3], head[4]);
            let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
            let mut payload = vec![0u8; len];
            if self.s.read_exact(&mut payload).await.is_err() {
                return Outcome::Closed;
            }
            match kind {
                SETTINGS if flags & ACK == 0 => self.frame(SETTINGS, ACK, 0, &[]).await,
                RST_STREAM if id == stream => return Outcome::Reset(be32(&payload[..4])),
                GOAWAY => return Outcome::GoAway(be32(&payload[4..8])),
                HEADERS if id == stream => return Outcome::Response(status(&payload, flags)),
                _ => {}
            }
        }
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// An HPACK string literal, not Huffman-coded.
fn string(out: &mut Vec<u8>, s: &[u8]) {
    int(out, s.len(), 7, 0x00);
    out.extend_from_slice(s);
}

/// An HPACK integer with an `n`-bit prefix (RFC 7541 §5.1).
fn int(out: &mut Vec<u8>, mut v: usize, n: u32, first: u8) {
    let max = (1usize << n) - 1;
    if v < max {
        out.push(first | v as u8);
        return;
    }
    out.push(first | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

/// The `:status` of a response header block (its first field).
fn status(payload: &[u8], flags: u8) -> u16 {
    // Skip padding length and priority fields if present.
    let mut b = payload;
    if flags & 0x8 != 0 {
        b = &b[1..];
    }
    if flags & 0x20 != 0 {
        b = &b[5..];
    }
    // Static table entries 8..=14 are `:status` with these values.
    const STATIC: [u16; 7] = [200, 204, 206, 304, 400, 404, 500];
    let first = b[0];
    if first & 0x80 != 0 {
        let idx = usize::from(first & 0x7f);
        return STATIC
            .get(idx.wrapping_sub(8))
            .copied()
            .unwrap_or_else(|| panic!("first field is not :status (index {idx})"));
    }
    // A literal whose name is a static `:status` entry: the value follows.
    let name_idx = if first & 0xc0 == 0x40 {
        first & 0x3f
    } else {
        first & 0x0f
    };
    assert!((8..=14).contains(&name_idx), "first field is not :status");
    let (huff, len) = (b[1] & 0x80 != 0, usize::from(b[1] & 0x7f));
    let raw = &b[2..2 + len];
    let text = if huff {
        huffman_digits(raw)
    } else {
        raw.to_vec()
    };
    std::str::from_utf8(&text)
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("bad :status {text:?}"))
}

/// Decodes a Huffman-coded string of decimal digits (RFC 7541 Appendix B:
/// '0'-'2' are 5-bit codes 0-2, '3'-'9' 6-bit codes 25-31).
fn huffman_digits(raw: &[u8]) -> Vec<u8> {
    let bits: Vec<u8> = raw
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1))
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 5 <= bits.len() {
        let v5 = bits[i..i + 5].iter().fold(0u8, |a, &b| a << 1 | b);
        if v5 <= 2 {
            out.push(b'0' + v5);
            i += 5;
            continue;
        }
        if i + 6 <= bits.len() {
            let v6 = bits[i..i + 6].iter().fold(0u8, |a, &b| a << 1 | b);
            if (25..=31).contains(&v6) {
                out.push(b'3' + (v6 - 25));
                i += 6;
                continue;
            }
        }
        break; // the EOS padding (all ones)
    }
    out
}
