//! The authenticate phase: verify a JWT or an API key as the route's policy requires. Until the enforcement issue fills it, every request passes unauthenticated.
//!
//! Must not await or take a lock: it runs on every request.

use http::Request;
use hyper::body::Incoming;

use crate::context::RequestCtx;
use crate::flow::Flow;

pub(crate) fn authenticate(_ctx: &mut RequestCtx, _req: &Request<Incoming>) -> Flow {
    Flow::Continue
}
