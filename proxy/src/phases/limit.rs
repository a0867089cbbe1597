//! The limit phase: the route's own head caps (414, 431), its body cap (413,
//! checked here against a declared length and enforced while streaming for
//! bodies without one), and its rate limits (429, with what the client needs to
//! back off: `Retry-After` and the RateLimit headers, set by `respond`).
//!
//! Must not await or take a lock: it runs on every request.

use http::Request;
use http_body::Body as _;
use hyper::body::Incoming;

use palisade_models::{DenyCode, Phase};

use crate::context::RequestCtx;
use crate::flow::Flow;
use crate::limits::RateLimits;
use crate::phases::accept::head_bytes;
use crate::routes::RouteTable;

pub(crate) fn limit(
    ctx: &mut RequestCtx,
    req: &Request<Incoming>,
    table: &RouteTable,
    limits: &RateLimits,
) -> Flow {
    let route = ctx.route.map(|i| table.get(i));
    if let Some(r) = route {
        if let Some(max) = r.max_url_bytes {
            let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
            if target > max {
                return Flow::deny(Phase::Limit, DenyCode::UrlTooLong);
            }
        }
        if r.max_header_bytes.is_some_and(|max| head_bytes(req) > max) {
            return Flow::deny(Phase::Limit, DenyCode::HeadersTooLarge);
        }
    }
    let max = route.map_or(table.default_max_body, |r| r.max_body);
    ctx.max_body = max;
    // hyper has already parsed Content-Length (HTTP/1) or content-length (HTTP/2)
    // into the body's exact size.
    if req.body().size_hint().exact().is_some_and(|len| len > max) {
        return Flow::deny(Phase::Limit, DenyCode::BodyTooLarge);
    }
    let limiter = match route {
        Some(r) => r.limiter.as_deref(),
        None => limits.undeclared(),
    };
    if let Err(limited) = limits.check(limiter, &ctx.client()) {
        ctx.limited = Some(limited);
        return Flow::deny(Phase::Limit, DenyCode::RateLimited);
    }
    Flow::Continue
}
