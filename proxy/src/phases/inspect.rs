//! The inspect phase: attack signatures over path, query, headers and the first KiB of the body. Until the enforcement issue fills it, every request passes.
//!
//! Must not await or take a lock: it runs on every request.

use http::Request;
use hyper::body::Incoming;

use crate::context::RequestCtx;
use crate::flow::Flow;

pub(crate) fn inspect(_ctx: &mut RequestCtx, _req: &Request<Incoming>) -> Flow {
    Flow::Continue
}
