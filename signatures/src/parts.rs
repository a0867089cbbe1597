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

/// Headers not inspected: framing, content negotiation, caching and credentials
/// carry no attack a rule here could see, and skipping them keeps clean requests
/// cheap. Everything else is (attacks arrive in arbitrary custom headers).
const SKIPPED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "upgrade",
    "accept",
    "accept-encoding",
    "accept-language",
    "accept-charset",
    "cache-control",
    "pragma",
    "if-none-match",
    "if-modified-since",
    "if-match",
    "if-unmodified-since",
    "authorization",
    "proxy-authorization",
    "dnt",
    "priority",
    "upgrade-insecure-requests",
];

/// Walks every part of `req`, inspecting at most `body_cap` body bytes. `tmp` is
/// where body parsers decode JSON strings.
pub(crate) fn walk(req: &Request<'_>, body_cap: usize, tmp: &mut Vec<u8>, sink: &mut impl Sink) {
    sink.part(part::PATH, req.path, false);
    if let Some(q) = req.query {
        pairs(q, b'&', part::ARG_NAME, part::ARG, sink);
    }
    for &(name, value) in req.headers {
        if name.eq_ignore_ascii_case("cookie") {
            pairs(value, b';', part::COOKIE_NAME, part::COOKIE, sink);
        } else if name.eq_ignore_ascii_case("user-agent") {
            sink.part(part::USER_AGENT, value, false);
        } else if name.eq_ignore_ascii_case("referer") {
            sink.part(part::REFERER, value, false);
        } else if names_a_file(name) {
            sink.part(part::FILENAME, value, false);
        } else if !skipped(name) {
            sink.part(part::HEADER, value, false);
        }
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

/// `X-Filename`, `X-File-Name`, `X_Filename`: upload APIs that take the file
/// name from a header.
fn names_a_file(name: &str) -> bool {
    let n = name.as_bytes();
    n.windows(4).any(|w| w.eq_ignore_ascii_case(b"file"))
        && n.windows(4).any(|w| w.eq_ignore_ascii_case(b"name"))
}

fn skipped(name: &str) -> bool {
    let browser_hint = name
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("sec-"));
    browser_hint || SKIPPED_HEADERS.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// `name=value` pairs separated by `sep`; a pair without `=` is a name.
pub(crate) fn pairs(s: &[u8], sep: u8, name_kind: u16, value_kind: u16, sink: &mut impl Sink) {
    let plus = sep == b'&';
    for pair in s.split(|&b| b == sep) {
        let pair = pair.trim_ascii();
        if pair.is_empty() {
            continue;
        }
        match memchr::memchr(b'=', pair) {
            Some(eq) => {
                sink.part(name_kind, &pair[..eq], plus);
                sink.part(value_kind, &pair[eq + 1..], plus);
            }
            None => sink.part(name_kind, pair, plus),
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
