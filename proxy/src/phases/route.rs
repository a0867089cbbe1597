//! The route phase: match method and path against the declared routes (matchit), attaching the route's template and policy to the context. Until routes are declared (the enforcement issue) every request passes, and none is marked undeclared.
//!
//! Must not await or take a lock: it runs on every request.

use http::Request;
use hyper::body::Incoming;

use crate::context::RequestCtx;
use crate::flow::Flow;

pub(crate) fn route(_ctx: &mut RequestCtx, _req: &Request<Incoming>) -> Flow {
    Flow::Continue
}
