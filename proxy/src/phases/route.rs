//! The route phase: match method and path against the declared routes (a radix
//! tree, not a list of regexes), attaching the route's template and policy to the
//! request. Undeclared paths are denied (404 `unknown_route`) or let through
//! marked undeclared, as `routes.unknown` says.
//!
//! Paths with dot segments (`/./`, `/../`, also percent-encoded) or encoded
//! backslashes are refused with 400 before matching: servers resolve them
//! differently, so they could reach an endpoint other than the one matched.
//!
//! Must not await or take a lock: it runs on every request.

use http::Request;
use hyper::body::Incoming;

use palisade_models::config::UnknownRoutes;
use palisade_models::{DenyCode, Phase};

use crate::context::RequestCtx;
use crate::flow::Flow;
use crate::routes::RouteTable;

pub(crate) fn route(ctx: &mut RequestCtx, req: &Request<Incoming>, table: &RouteTable) -> Flow {
    let path = req.uri().path();
    if is_ambiguous(path) {
        return Flow::deny(Phase::Route, DenyCode::BadRequest);
    }
    match table.lookup(req.method(), path) {
        Some(i) => {
            ctx.route = Some(i);
            ctx.rec.event().route = Some(table.get(i).template.clone());
            Flow::Continue
        }
        None if table.unknown == UnknownRoutes::Allow => {
            ctx.rec.event().undeclared = true;
            Flow::Continue
        }
        None => Flow::deny(Phase::Route, DenyCode::UnknownRoute),
    }
}

/// True for a path with a dot segment or an encoded backslash.
pub(crate) fn is_ambiguous(path: &str) -> bool {
    let bytes = path.as_bytes();
    // Nearly every path has neither a dot nor a percent sign: one scan decides.
    if !bytes.iter().any(|&b| b == b'.' || b == b'%') {
        return false;
    }
    path.split('/').any(is_dot_segment) || contains_encoded_backslash(bytes)
}

/// "." or "..", with any dot written as %2e.
fn is_dot_segment(segment: &str) -> bool {
    let b = segment.as_bytes();
    let (mut dots, mut i) = (0, 0);
    while i < b.len() {
        if b[i] == b'.' {
            i += 1;
        } else if b[i] == b'%'
            && b.get(i + 1) == Some(&b'2')
            && b.get(i + 2).map(|c| c | 0x20) == Some(b'e')
        {
            i += 3;
        } else {
            return false;
        }
        dots += 1;
    }
    (1..=2).contains(&dots)
}

fn contains_encoded_backslash(b: &[u8]) -> bool {
    b.windows(3)
        .any(|w| w[0] == b'%' && w[1] == b'5' && (w[2] | 0x20) == b'c')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_and_encoded_backslashes_are_ambiguous() {
        for p in [
            "/api/../admin",
            "/api/./users",
            "/api/users/..",
            "/api/%2e%2e/admin",
            "/api/.%2E/admin",
            "/api/%2e/x",
            "/files/a%5c..%5cwin.ini",
        ] {
            assert!(is_ambiguous(p), "{p}");
        }
        for p in [
            "/",
            "/api/users/42",
            "/files/report.v2.pdf",
            "/api/...",
            "/a/.well-known/x",
            "/search/100%25",
            "/api/users/%2e%2e%2e",
        ] {
            assert!(!is_ambiguous(p), "{p}");
        }
    }
}
