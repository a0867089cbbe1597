//! The limit phase: the route's body cap (413), checked here against a declared
//! Content-Length and enforced while streaming for bodies without one. Rate
//! limits (governor) join in the enforcement issue.
//!
//! Must not await or take a lock: it runs on every request.

use http::Request;
use http_body::Body as _;
use hyper::body::Incoming;

use palisade_models::{DenyCode, Phase};

use crate::context::RequestCtx;
use crate::flow::Flow;
use crate::routes::RouteTable;

pub(crate) fn limit(ctx: &mut RequestCtx, req: &Request<Incoming>, table: &RouteTable) -> Flow {
    let max = ctx
        .route
        .map_or(table.default_max_body, |i| table.get(i).max_body);
    ctx.max_body = max;
    // hyper has already parsed Content-Length (HTTP/1) or content-length (HTTP/2)
    // into the body's exact size.
    if req.body().size_hint().exact().is_some_and(|len| len > max) {
        return Flow::deny(Phase::Limit, DenyCode::BodyTooLarge);
    }
    Flow::Continue
}
