//! Splits a [`Request`] into the parts rules target: the path, query parameter
//! names and values, the inspected headers (cookies split into names and values),
//! and the body by its content type (form, multipart, JSON, XML, or raw text).
//!
//! Must not decode or match: parts are handed to a [`Sink`] raw, and must not
//! look past the body cap the engine passes in.

use crate::body;
use crate::request::Request;
use crate::rules::part;

/// Receives the parts of a request.
pub(crate) trait Sink {
    /// One part: its kind (a `rules::part` bit), its raw bytes, and whether `+`
    /// means a space in it (form encoding).
    fn part(&mut self, kind: u16, raw: &[u8], plus_space: bool);
}

/// How a header is inspected, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeaderKind {
    Cookie,
    UserAgent,
    Referer,
    /// `X-Filename`, `X-File-Name`, `X_Filename`: upload APIs that take the
    /// file name from a header.
    Filename,
    Other,
    /// Framing, content negotiation, caching, credentials and browser hints
    /// carry no attack a rule here could see, and skipping them keeps clean
    /// requests cheap. Everything else is inspected (attacks arrive in
    /// arbitrary custom headers).
    Skipped,
}

fn header_kind(name: &str) -> HeaderKind {
    let mut buf = [0u8; 32];
    let Some(lower) = buf.get_mut(..name.len()) else {
        return long_header_kind(name);
    };
    lower.copy_from_slice(name.as_bytes());
    lower.make_ascii_lowercase();
    match &*lower {
        b"cookie" => HeaderKind::Cookie,
        b"user-agent" => HeaderKind::UserAgent,
        b"referer" => HeaderKind::Referer,
        b"host"
        | b"content-length"
        | b"transfer-encoding"
        | b"connection"
        | b"keep-alive"
        | b"proxy-connection"
        | b"te"
        | b"upgrade"
        | b"accept"
        | b"accept-encoding"
        | b"accept-language"
        | b"accept-charset"
        | b"cache-control"
        | b"pragma"
        | b"if-none-match"
        | b"if-modified-since"
        | b"if-match"
        | b"if-unmodified-since"
        | b"authorization"
        | b"proxy-authorization"
        | b"dnt"
        | b"priority"
        | b"upgrade-insecure-requests" => HeaderKind::Skipped,
        l if l.starts_with(b"sec-") => HeaderKind::Skipped,
        l => long_header_kind_lower(l),
    }
}

fn long_header_kind(name: &str) -> HeaderKind {
    long_header_kind_lower(name.to_ascii_lowercase().as_bytes())
}

fn long_header_kind_lower(lower: &[u8]) -> HeaderKind {
    if memchr::memmem::find(lower, b"file").is_some()
        && memchr::memmem::find(lower, b"name").is_some()
    {
        HeaderKind::Filename
    } else {
        HeaderKind::Other
    }
}

/// Walks every part of `req`, inspecting at most `body_cap` body bytes. `tmp` is
/// where body parsers decode JSON strings. Headers go first: they repeat from
/// request to request, and the engine can only remember a value as clean
/// while nothing earlier in the request has hit.
pub(crate) fn walk(req: &Request<'_>, body_cap: usize, tmp: &mut Vec<u8>, sink: &mut impl Sink) {
    for &(name, value) in req.headers {
        match header_kind(name) {
            HeaderKind::Cookie => pairs(value, b';', part::COOKIE_NAME, part::COOKIE, sink),
            HeaderKind::UserAgent => sink.part(part::USER_AGENT, value, false),
            HeaderKind::Referer => sink.part(part::REFERER, value, false),
            HeaderKind::Filename => sink.part(part::FILENAME, value, false),
            HeaderKind::Other => sink.part(part::HEADER, value, false),
            HeaderKind::Skipped => {}
        }
    }
    sink.part(part::PATH, req.path, false);
    if let Some(q) = req.query {
        pairs(q, b'&', part::ARG_NAME, part::ARG, sink);
    }
    let body = &req.body[..req.body.len().min(body_cap)];
    if body.is_empty() {
        return;
    }
    let ct = req.content_type.unwrap_or("");
    let media = ct.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        pairs(body, b'&', part::ARG_NAME, part::ARG, sink);
    } else if media.eq_ignore_ascii_case("multipart/form-data") {
        match boundary(ct) {
            Some(b) => body::multipart(body, b.as_bytes(), sink),
            None => sink.part(part::BODY, body, false),
        }
    } else if contains_ignore_case(media, "json") {
        body::json(body, tmp, sink);
    } else if contains_ignore_case(media, "xml") {
        body::xml(body, sink);
    } else {
        sink.part(part::BODY, body, false);
    }
}

/// `name=value` pairs separated by `sep`; a pair without `=` is a name. Two
/// more parts where one pair needs to be read whole: a name holding a quote
/// (raw or percent-encoded) is a payload the split at `=` would cut in two,
/// so the whole pair is also a value; and a value holding a URL, or passed
/// in a parameter named for running commands, is also given with its name
/// (`ARG_PAIR`), for rules that judge a value by the parameter it is in.
pub(crate) fn pairs(s: &[u8], sep: u8, name_kind: u16, value_kind: u16, sink: &mut impl Sink) {
    let plus = sep == b'&';
    for pair in s.split(|&b| b == sep) {
        let pair = pair.trim_ascii();
        if pair.is_empty() {
            continue;
        }
        match memchr::memchr(b'=', pair) {
            Some(eq) => {
                let (name, value) = (&pair[..eq], &pair[eq + 1..]);
                sink.part(name_kind, name, plus);
                sink.part(value_kind, value, plus);
                if has_quote(name) {
                    sink.part(value_kind, pair, plus);
                }
                if value_kind == part::ARG && (has_url(value) || names_a_command(name)) {
                    sink.part(part::ARG_PAIR, pair, plus);
                }
            }
            None => sink.part(name_kind, pair, plus),
        }
    }
}

/// A parameter named for running commands (`cmd`, `exec`, `x_command`).
fn names_a_command(name: &[u8]) -> bool {
    if !(3..=32).contains(&name.len()) {
        return false;
    }
    let last = name
        .rsplit(|b| matches!(b, b'_' | b'.' | b'-'))
        .next()
        .unwrap_or(name);
    matches!(last.len(), 3..=7)
        && [
            &b"cmd"[..],
            b"command",
            b"exec",
            b"execute",
            b"shell",
            b"run",
            b"system",
        ]
        .iter()
        .any(|n| last.eq_ignore_ascii_case(n))
}

/// A quote, raw or percent-encoded (once or twice).
fn has_quote(raw: &[u8]) -> bool {
    memchr::memchr3(b'\'', b'"', b'`', raw).is_some()
        || memchr::memchr_iter(b'%', raw)
            .any(|i| matches!(raw.get(i + 1..i + 3), Some(b"27" | b"22" | b"60" | b"25")))
}

/// A URL scheme separator, raw or percent-encoded.
fn has_url(raw: &[u8]) -> bool {
    match memchr::memchr2(b':', b'%', raw) {
        None => false,
        Some(_) => {
            memchr::memmem::find(raw, b"://").is_some()
                || memchr::memchr_iter(b'%', raw).any(|i| {
                    raw.get(i + 1..i + 3)
                        .is_some_and(|h| h.eq_ignore_ascii_case(b"3a"))
                })
        }
    }
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// The `boundary` parameter of a multipart content type.
fn boundary(ct: &str) -> Option<&str> {
    ct.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"'))
            .filter(|v| !v.is_empty())
    })
}
