//! Raw HTTP/1.x request bytes (as the CRS regression corpus stores them) turned
//! into an owned request the engine can inspect. Tolerant: a request httparse
//! rejects is split by hand, and whatever can be read is inspected.
//!
//! Must not be used on the proxy's request path (it allocates freely); the proxy
//! builds [`Request`]s from hyper's parsed parts.

use crate::engine::{Engine, Scratch, Verdict};
use crate::request::Request;

/// An owned, parsed request.
#[derive(Debug, Clone, Default)]
pub struct RawRequest {
    /// The method.
    pub method: String,
    /// The raw path (origin form; an absolute-form target loses scheme and host).
    pub path: Vec<u8>,
    /// The raw query, if any.
    pub query: Option<Vec<u8>>,
    /// Headers in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The Content-Type header.
    pub content_type: Option<String>,
    /// The body, de-chunked when Transfer-Encoding is chunked.
    pub body: Vec<u8>,
}

impl RawRequest {
    /// Parses raw request bytes; never fails (an unreadable request is empty).
    pub fn parse(raw: &[u8]) -> RawRequest {
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut parsed = httparse::Request::new(&mut headers);
        let mut req = RawRequest::default();
        let body_start = match parsed.parse(raw) {
            Ok(httparse::Status::Complete(n)) => {
                req.method = parsed.method.unwrap_or("").to_owned();
                req.set_target(parsed.path.unwrap_or("").as_bytes());
                req.headers = parsed
                    .headers
                    .iter()
                    .map(|h| (h.name.to_owned(), h.value.to_vec()))
                    .collect();
                n
            }
            _ => req.parse_by_hand(raw),
        };
        req.content_type = req
            .header("content-type")
            .map(|v| String::from_utf8_lossy(v).into_owned());
        let rest = &raw[body_start.min(raw.len())..];
        let chunked = req
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().windows(7).any(|w| w == b"chunked"));
        req.body = if chunked {
            dechunk(rest)
        } else {
            let len = req
                .header("content-length")
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(rest.len());
            rest[..len.min(rest.len())].to_vec()
        };
        req
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Runs the engine over this request.
    pub fn inspect(&self, engine: &Engine, scratch: &mut Scratch) -> Verdict {
        let headers: Vec<(&str, &[u8])> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        let req = Request {
            method: &self.method,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &headers,
            host: None,
            content_type: self.content_type.as_deref(),
            body: &self.body,
        };
        engine.inspect(&req, scratch)
    }

    fn set_target(&mut self, target: &[u8]) {
        let mut t = target;
        // Absolute form (`http://host/path?q`): only when the target does not
        // start with `/`, so a URL in the query is left alone.
        let absolute = t.first() != Some(&b'/');
        if let Some(pos) = t.windows(3).position(|w| w == b"://").filter(|_| absolute) {
            let after = &t[pos + 3..];
            t = after
                .iter()
                .position(|&b| b == b'/')
                .map_or(&b"/"[..], |p| &after[p..]);
        }
        match t.iter().position(|&b| b == b'?') {
            Some(q) => {
                self.path = t[..q].to_vec();
                self.query = Some(t[q + 1..].to_vec());
            }
            None => self.path = t.to_vec(),
        }
    }

    /// Splits a request httparse refused: request line, `name: value` lines,
    /// blank line. Returns where the body starts.
    fn parse_by_hand(&mut self, raw: &[u8]) -> usize {
        let (head_len, body_start) = match find(raw, b"\r\n\r\n") {
            Some(p) => (p, p + 4),
            None => match find(raw, b"\n\n") {
                Some(p) => (p, p + 2),
                None => (raw.len(), raw.len()),
            },
        };
        let mut lines = raw[..head_len].split(|&b| b == b'\n');
        if let Some(first) = lines.next() {
            let mut words = first
                .trim_ascii()
                .split(|&b| b == b' ')
                .filter(|w| !w.is_empty());
            self.method = String::from_utf8_lossy(words.next().unwrap_or(b"")).into_owned();
            let target = words.next().unwrap_or(b"/");
            self.set_target(target);
        }
        for line in lines {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(colon) = line.iter().position(|&b| b == b':') {
                let name = String::from_utf8_lossy(line[..colon].trim_ascii()).into_owned();
                self.headers
                    .push((name, line[colon + 1..].trim_ascii().to_vec()));
            }
        }
        body_start
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// Decodes a chunked body as far as it is well formed; a broken chunk ends it.
fn dechunk(mut s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = find(s, b"\r\n") {
        let size_text = s[..eol].split(|&b| b == b';').next().unwrap_or(b"");
        let Some(size) = std::str::from_utf8(size_text)
            .ok()
            .and_then(|t| usize::from_str_radix(t.trim(), 16).ok())
        else {
            break;
        };
        if size == 0 {
            break;
        }
        let data = &s[eol + 2..];
        let take = size.min(data.len());
        out.extend_from_slice(&data[..take]);
        s = data.get(take + 2..).unwrap_or(&[]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_well_formed_request_with_content_length() {
        let r = RawRequest::parse(
            b"POST /a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabcdef",
        );
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, b"/a");
        assert_eq!(r.query.as_deref(), Some(&b"x=1"[..]));
        assert_eq!(r.content_type.as_deref(), Some("text/plain"));
        assert_eq!(r.body, b"abc");
    }

    #[test]
    fn dechunks_and_tolerates_bad_heads() {
        let r = RawRequest::parse(
            b"POST http://h/p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        );
        assert_eq!(r.path, b"/p");
        assert_eq!(r.body, b"abcde");
        let bad =
            RawRequest::parse(b"GET /x?q=<script> HTTP/1.1\r\nBad Header\r\nUser-Agent: u\r\n\r\n");
        assert_eq!(bad.query.as_deref(), Some(&b"q=<script>"[..]));
        assert_eq!(bad.header("user-agent"), Some(&b"u"[..]));
    }
}
