//! The limit phase: per-client and global rate limits (governor), body and header size caps. Until the enforcement issue fills it, every request passes.
//!
//! Must not await or take a lock: it runs on every request.

use http::Request;
use hyper::body::Incoming;

use crate::context::RequestCtx;
use crate::flow::Flow;

pub(crate) fn limit(_ctx: &mut RequestCtx, _req: &Request<Incoming>) -> Flow {
    Flow::Continue
}
