//! The request-level part of the accept phase: caps on the request head that must
//! hold before anything else looks at it (URL length 414, header count and bytes
//! 431) and methods a reverse proxy never serves (CONNECT). Connection-level
//! acceptance (TLS, timeouts, connection cap) lives in `conn` and `server`; load
//! shedding (`max_in_flight`, denied in this phase's name) at the top of
//! `pipeline::handle`, before even this phase runs.
//!
//! Must not allocate: it only measures.

use http::{Method, Request};
use hyper::body::Incoming;

use palisade_models::{DenyCode, Phase};

use crate::flow::Flow;
use crate::settings::Settings;

/// Bytes HTTP/2 counts per header on top of name and value (RFC 9113 §6.5.2).
const H2_HEADER_OVERHEAD: usize = 32;
/// Bytes HTTP/1 spends per header on top of name and value (": " and CRLF).
const H1_HEADER_OVERHEAD: usize = 4;

pub(crate) fn accept(req: &Request<Incoming>, s: &Settings) -> Flow {
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > s.max_url_bytes {
        return Flow::deny(Phase::Accept, DenyCode::UrlTooLong);
    }
    // HTTP/1 heads are capped by hyper itself (431 before we see them); HTTP/2
    // heads arrive decoded, so count them here with the same caps.
    if req.version() == http::Version::HTTP_2 {
        let headers = req.headers();
        if headers.len() > s.max_header_count {
            return Flow::deny(Phase::Accept, DenyCode::HeadersTooLarge);
        }
        if head_bytes(req) > s.max_header_bytes {
            return Flow::deny(Phase::Accept, DenyCode::HeadersTooLarge);
        }
        // HTTP/1 heads get these checks from the framing guard (conn/guard.rs);
        // an HTTP/2 request goes upstream as HTTP/1.1, where they would matter.
        if h2_ambiguous(headers) {
            return Flow::deny(Phase::Accept, DenyCode::BadRequest);
        }
    }
    if req.method() == Method::CONNECT {
        return Flow::deny(Phase::Accept, DenyCode::BadRequest);
    }
    Flow::Continue
}

/// An HTTP/2 request that would read two ways once sent as HTTP/1.1: more than
/// one Host, more than one content-length (hyper's h2 accepts equal ones, and
/// would forward both), or a `content_length` / `transfer_encoding` lookalike,
/// which CGI-style servers read as the real header. (hyper's h2 already resets
/// streams with connection-specific headers or a content-length at odds with
/// the DATA frames.)
fn h2_ambiguous(headers: &http::HeaderMap) -> bool {
    let twice = |name| {
        let mut v = headers.get_all(name).iter();
        v.next().is_some() && v.next().is_some()
    };
    if twice(http::header::HOST) || twice(http::header::CONTENT_LENGTH) {
        return true;
    }
    headers.keys().any(|n| {
        let n = n.as_str();
        n.contains('_')
            && matches!(n.len(), 14 | 17)
            && matches!(
                n.replace('_', "-").as_str(),
                "content-length" | "transfer-encoding"
            )
    })
}

/// The size of the request head as the caps count it: the request target plus
/// every header's name, value and per-header framing.
pub(crate) fn head_bytes(req: &Request<Incoming>) -> usize {
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    let overhead = if req.version() == http::Version::HTTP_2 {
        H2_HEADER_OVERHEAD
    } else {
        H1_HEADER_OVERHEAD
    };
    target
        + req
            .headers()
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + overhead)
            .sum::<usize>()
}
