//! Body parsers that hand a body's names and values to a [`Sink`]: a streaming
//! JSON string scanner, a multipart splitter and a minimal XML scanner. All three
//! tolerate truncation (the engine sees only the first N KiB) and malformed input:
//! they extract what they can and never fail.
//!
//! Must not allocate beyond the caller's buffer, and must not build a document
//! tree (a body is inspected, not understood).

use memchr::memmem;

use crate::parts::Sink;
use crate::rules::part;

/// Every string in a JSON text: a string followed by `:` is a key (an argument
/// name), any other is a value. Numbers, booleans and structure are skipped.
/// A string without escapes is handed over as it lies in the body; escapes
/// are decoded into `tmp`.
pub(crate) fn json(body: &[u8], tmp: &mut Vec<u8>, sink: &mut impl Sink) {
    let mut i = 0;
    while let Some(start) = memchr::memchr(b'"', &body[i..]) {
        i += start + 1;
        let from = i;
        let plain_end = memchr::memchr2(b'"', b'\\', &body[i..]).map(|e| i + e);
        let decoded = match plain_end {
            Some(end) if body[end] == b'"' => {
                i = end + 1;
                &body[from..end]
            }
            _ => {
                i = decode_string(body, i, tmp);
                &tmp[..]
            }
        };
        let rest = body[i..].trim_ascii_start();
        let kind = if rest.first() == Some(&b':') {
            part::ARG_NAME
        } else {
            part::ARG
        };
        if !decoded.is_empty() {
            sink.part(kind, decoded, false);
        }
    }
}

/// Decodes the JSON string starting at `body[i]` (after its opening quote)
/// into `tmp`; returns the index after its closing quote (or the end of a
/// truncated body).
fn decode_string(body: &[u8], mut i: usize, tmp: &mut Vec<u8>) -> usize {
    tmp.clear();
    while i < body.len() {
        let b = body[i];
        i += 1;
        match b {
            b'"' => break,
            b'\\' => {
                let Some(&e) = body.get(i) else { break };
                i += 1;
                match e {
                    b'n' => tmp.push(b'\n'),
                    b't' => tmp.push(b'\t'),
                    b'r' => tmp.push(b'\r'),
                    b'b' | b'f' => tmp.push(b' '),
                    b'u' => {
                        let cp = body
                            .get(i..i + 4)
                            .and_then(|h| std::str::from_utf8(h).ok())
                            .and_then(|h| u32::from_str_radix(h, 16).ok());
                        match cp {
                            Some(cp) => {
                                i += 4;
                                let c = char::from_u32(cp).unwrap_or('?');
                                let mut buf = [0u8; 4];
                                tmp.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                            }
                            None => tmp.extend_from_slice(b"\\u"),
                        }
                    }
                    other => tmp.push(other),
                }
            }
            _ => tmp.push(b),
        }
    }
    i
}

/// The parts of a `multipart/form-data` body: each part's field name, file name
/// and content. File content that looks binary (a NUL in its first KiB) is not
/// inspected.
pub(crate) fn multipart(body: &[u8], boundary: &[u8], sink: &mut impl Sink) {
    let mut delim = [0u8; 80];
    let Some(slot) = delim.get_mut(..boundary.len() + 2) else {
        // RFC 2046 caps boundaries at 70 characters; a longer one is malformed.
        sink.part(part::BODY, body, false);
        return;
    };
    slot[..2].copy_from_slice(b"--");
    slot[2..].copy_from_slice(boundary);
    let delim = &*slot;
    let finder = memmem::Finder::new(delim);
    let mut positions = finder.find_iter(body).peekable();
    while let Some(start) = positions.next() {
        let after = start + delim.len();
        if body[after..].starts_with(b"--") {
            break;
        }
        let end = positions.peek().copied().unwrap_or(body.len());
        let section = &body[after..end];
        let section = section.strip_prefix(b"\r\n").unwrap_or(section);
        let (head, content) = match memmem::find(section, b"\r\n\r\n") {
            Some(h) => (&section[..h], &section[h + 4..]),
            None => match memmem::find(section, b"\n\n") {
                Some(h) => (&section[..h], &section[h + 2..]),
                None => (section, &[][..]),
            },
        };
        let content = content.strip_suffix(b"\r\n").unwrap_or(content);
        let mut is_file = false;
        for line in head.split(|&b| b == b'\n') {
            let line = line.trim_ascii();
            let lower_starts = line
                .get(..20)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"content-disposition:"));
            if !lower_starts {
                continue;
            }
            if let Some(name) = param(line, b"name") {
                sink.part(part::ARG_NAME, name, false);
            }
            if let Some(file) = param(line, b"filename") {
                is_file = true;
                sink.part(part::FILENAME, file, false);
            }
        }
        let binary = memchr::memchr(0, &content[..content.len().min(1024)]).is_some();
        if !(content.is_empty() || is_file && binary) {
            sink.part(part::ARG, content, false);
        }
    }
}

/// A `key="value"` (or unquoted) parameter of a header line.
fn param<'a>(line: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let mut i = 0;
    while let Some(pos) = memmem::find(&line[i..], key) {
        let at = i + pos;
        i = at + key.len();
        let before_ok = at == 0 || matches!(line[at - 1], b';' | b' ' | b'\t');
        let rest = line[i..].trim_ascii_start();
        if !before_ok || rest.first() != Some(&b'=') {
            continue;
        }
        let rest = rest[1..].trim_ascii_start();
        return Some(match rest.strip_prefix(b"\"") {
            Some(q) => &q[..memchr::memchr(b'"', q).unwrap_or(q.len())],
            None => &rest[..memchr::memchr(b';', rest).unwrap_or(rest.len())],
        });
    }
    None
}

/// Text content and attribute values of an XML body as values; declarations
/// (`<!DOCTYPE`, `<!ENTITY`) whole, as body text, so XXE rules can see them.
pub(crate) fn xml(body: &[u8], sink: &mut impl Sink) {
    let mut i = 0;
    while i < body.len() {
        if body[i] != b'<' {
            let end = memchr::memchr(b'<', &body[i..]).map_or(body.len(), |p| i + p);
            let text = body[i..end].trim_ascii();
            if !text.is_empty() {
                sink.part(part::ARG, text, false);
            }
            i = end;
            continue;
        }
        let rest = &body[i..];
        if rest.starts_with(b"<![CDATA[") {
            let end = memmem::find(rest, b"]]>").unwrap_or(rest.len());
            sink.part(part::ARG, &rest[9.min(end)..end], false);
            i += end + 3;
            continue;
        }
        if rest.starts_with(b"<!--") {
            i += memmem::find(rest, b"-->").map_or(rest.len(), |e| e + 3);
            continue;
        }
        let end = memchr::memchr(b'>', rest).map_or(rest.len(), |e| e + 1);
        let tag = &rest[..end];
        if tag.starts_with(b"<!") {
            sink.part(part::BODY, tag, false);
        } else if !tag.starts_with(b"<?") {
            attributes(tag, sink);
        }
        i += end;
    }
}

fn attributes(tag: &[u8], sink: &mut impl Sink) {
    let mut i = 0;
    while let Some(eq) = memchr::memchr(b'=', &tag[i..]) {
        let mut j = i + eq + 1;
        while tag.get(j).is_some_and(u8::is_ascii_whitespace) {
            j += 1;
        }
        let (value, next) = match tag.get(j) {
            Some(&q @ (b'"' | b'\'')) => {
                let v = &tag[j + 1..];
                let len = memchr::memchr(q, v).unwrap_or(v.len());
                (&v[..len], j + 1 + len + 1)
            }
            _ => {
                let v = &tag[j..];
                let len = v
                    .iter()
                    .position(|b| b.is_ascii_whitespace() || *b == b'>')
                    .unwrap_or(v.len());
                (&v[..len], j + len)
            }
        };
        if !value.is_empty() {
            sink.part(part::ARG, value, false);
        }
        i = next.min(tag.len());
    }
}
