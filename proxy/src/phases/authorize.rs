//! The authorize phase: the route's required scopes or roles against the verified claims. Until the enforcement issue fills it, every request passes.
//!
//! Must not await or take a lock: it runs on every request.

use http::Request;
use hyper::body::Incoming;

use crate::context::RequestCtx;
use crate::flow::Flow;

pub(crate) fn authorize(_ctx: &mut RequestCtx, _req: &Request<Incoming>) -> Flow {
    Flow::Continue
}
