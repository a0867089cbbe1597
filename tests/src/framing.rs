//! A strict, independent reader of the HTTP/1.1 request stream an upstream
//! received: the oracle that says whether what Palisade forwarded is
//! unambiguous. It shares no code with the proxy or hyper (it does not use
//! httparse), and it accepts only the one spelling every parser agrees on:
//! CRLF line ends, single spaces in the request line, no obs-fold, no control
//! bytes, one Host, at most one framing header (a plain-digit Content-Length or
//! exactly `Transfer-Encoding: chunked`), strict chunk syntax.

use crate::recording::ConnLog;

/// One request read off the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub method: String,
    pub target: String,
    /// Names lowercased, values with their optional whitespace trimmed.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
    /// How the body was framed.
    pub framing: Framing,
    /// False when the stream ended inside this request.
    pub complete: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
}

impl Message {
    /// Every value of header `name` (lowercase).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Reads every request in `bytes`. The last one may be incomplete (the stream
/// ended inside it); anything the strict grammar refuses is an error naming
/// the offence and its offset.
pub fn read_stream(bytes: &[u8]) -> Result<Vec<Message>, String> {
    match read_all(bytes) {
        (msgs, None) => Ok(msgs),
        (_, Some(e)) => Err(e),
    }
}

/// The requests that read strictly before the first offence, if any.
pub fn read_prefix(bytes: &[u8]) -> Vec<Message> {
    read_all(bytes).0
}

fn read_all(bytes: &[u8]) -> (Vec<Message>, Option<String>) {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let (msg, used) = match read_message(&bytes[pos..]) {
            Ok(r) => r,
            Err(e) => return (out, Some(format!("at byte {pos}: {e}"))),
        };
        let complete = msg.complete;
        out.push(msg);
        pos += used;
        if !complete {
            break;
        }
    }
    (out, None)
}

/// The requests of one upstream connection, if its stream is unambiguous: it
/// reads strictly, and a request cut short is the last thing on a connection
/// that was closed (a half-sent request on a live connection would make the
/// next one part of its body).
pub fn unambiguous(conn: &ConnLog) -> Result<Vec<Message>, String> {
    let msgs = read_stream(&conn.bytes())?;
    if msgs.last().is_some_and(|m| !m.complete) && !conn.closed() {
        return Err("a request was cut short on a connection still open".into());
    }
    Ok(msgs)
}

fn read_message(b: &[u8]) -> Result<(Message, usize), String> {
    let Some(head_len) = find(b, b"\r\n\r\n").map(|i| i + 4) else {
        let partial = Message {
            method: String::new(),
            target: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
            framing: Framing::None,
            complete: false,
        };
        check_bytes(b)?;
        return Ok((partial, b.len()));
    };
    let head = &b[..head_len - 4];
    check_bytes(head)?;
    let text = std::str::from_utf8(head).map_err(|_| "head is not UTF-8".to_string())?;
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or_default();
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, target, version] = parts[..] else {
        return Err(format!(
            "request line {line:?} is not three single-space fields"
        ));
    };
    if method.is_empty() || !method.bytes().all(is_tchar) {
        return Err(format!("method {method:?}"));
    }
    if !(target.starts_with('/') || target == "*")
        || !target.bytes().all(|c| (0x21..0x7f).contains(&c))
    {
        return Err(format!("target {target:?} is not origin-form"));
    }
    if version != "HTTP/1.1" {
        return Err(format!("version {version:?}"));
    }
    let mut headers = Vec::new();
    for l in lines {
        headers.push(header_line(l)?);
    }
    let count = |n: &str| headers.iter().filter(|(h, _)| h == n).count();
    if count("host") != 1 {
        return Err(format!("{} Host headers", count("host")));
    }
    if let Some((n, _)) = headers.iter().find(|(n, _)| {
        n.contains('_')
            && matches!(
                n.replace('_', "-").as_str(),
                "content-length" | "transfer-encoding"
            )
    }) {
        return Err(format!(
            "header {n:?} reads as a framing header to some servers"
        ));
    }
    let framing = match (count("content-length"), count("transfer-encoding")) {
        (0, 0) => Framing::None,
        (1, 0) => {
            let v = value(&headers, "content-length");
            if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) {
                return Err(format!("content-length {v:?}"));
            }
            Framing::Length(v.parse().map_err(|_| format!("content-length {v:?}"))?)
        }
        (0, 1) if value(&headers, "transfer-encoding").eq_ignore_ascii_case("chunked") => {
            Framing::Chunked
        }
        (cl, te) => {
            return Err(format!(
                "{cl} content-length and {te} transfer-encoding headers ({:?})",
                value(&headers, "transfer-encoding")
            ));
        }
    };
    let rest = &b[head_len..];
    let (body, used, complete) = match framing {
        Framing::None => (Vec::new(), 0, true),
        Framing::Length(n) => {
            let n = usize::try_from(n).map_err(|_| "huge content-length".to_string())?;
            let take = n.min(rest.len());
            (rest[..take].to_vec(), take, take == n)
        }
        Framing::Chunked => chunked(rest)?,
    };
    let msg = Message {
        method: method.into(),
        target: target.into(),
        headers,
        body,
        framing,
        complete,
    };
    Ok((msg, head_len + used))
}

fn value<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

fn header_line(l: &str) -> Result<(String, String), String> {
    let Some((name, v)) = l.split_once(':') else {
        return Err(format!("header line {l:?} has no colon"));
    };
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(format!("header name {name:?} (obs-fold or whitespace?)"));
    }
    Ok((
        name.to_ascii_lowercase(),
        v.trim_matches([' ', '\t']).to_string(),
    ))
}

/// A chunked body: (data, bytes used, complete).
fn chunked(b: &[u8]) -> Result<(Vec<u8>, usize, bool), String> {
    let mut data = Vec::new();
    let mut pos = 0;
    loop {
        let Some(end) = find(&b[pos..], b"\r\n") else {
            check_bytes(&b[pos..])?;
            return Ok((data, b.len(), false));
        };
        let line = &b[pos..pos + end];
        check_bytes(line)?;
        let size_text = line.split(|&c| c == b';').next().unwrap_or_default();
        if size_text.is_empty()
            || size_text.len() > 16
            || !size_text.iter().all(u8::is_ascii_hexdigit)
        {
            return Err(format!(
                "chunk size line {:?}",
                String::from_utf8_lossy(line)
            ));
        }
        let size = u64::from_str_radix(std::str::from_utf8(size_text).unwrap_or("x"), 16)
            .map_err(|_| "chunk size".to_string())?;
        pos += end + 2;
        if size == 0 {
            // Trailers up to the empty line; none may be a framing header.
            loop {
                let Some(end) = find(&b[pos..], b"\r\n") else {
                    return Ok((data, b.len(), false));
                };
                let line = &b[pos..pos + end];
                pos += end + 2;
                if line.is_empty() {
                    return Ok((data, pos, true));
                }
                check_bytes(line)?;
                let text = std::str::from_utf8(line).map_err(|_| "trailer UTF-8".to_string())?;
                let (name, _) = header_line(text)?;
                if matches!(
                    name.as_str(),
                    "content-length" | "transfer-encoding" | "host"
                ) {
                    return Err(format!("trailer {name:?}"));
                }
            }
        }
        let size = usize::try_from(size).map_err(|_| "huge chunk".to_string())?;
        let avail = b.len() - pos;
        if avail < size {
            data.extend_from_slice(&b[pos..]);
            return Ok((data, b.len(), false));
        }
        data.extend_from_slice(&b[pos..pos + size]);
        pos += size;
        match &b[pos..] {
            [b'\r', b'\n', ..] => pos += 2,
            [] | [b'\r'] => return Ok((data, b.len(), false)),
            _ => return Err("chunk data not followed by CRLF".into()),
        }
    }
}

/// No bare CR or LF, no control bytes other than HTAB (CRLF pairs allowed).
fn check_bytes(b: &[u8]) -> Result<(), String> {
    for (i, &c) in b.iter().enumerate() {
        let ok = match c {
            b'\r' => b.get(i + 1) == Some(&b'\n') || i + 1 == b.len(),
            b'\n' => i > 0 && b[i - 1] == b'\r',
            b'\t' => true,
            0..=0x1f | 0x7f => false,
            _ => true,
        };
        if !ok {
            return Err(format!("byte {c:#04x} at {i}"));
        }
    }
    Ok(())
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
