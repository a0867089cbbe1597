//! The authorize phase: the route's required scopes against the verified
//! credential's; any missing is 403 `forbidden`.
//!
//! Must not await or take a lock: it runs on every request.

use palisade_models::{DenyCode, Phase};

use crate::context::RequestCtx;
use crate::flow::Flow;
use crate::routes::RouteTable;

pub(crate) fn authorize(ctx: &mut RequestCtx, table: &RouteTable) -> Flow {
    let Some(route) = ctx.route.map(|i| table.get(i)) else {
        return Flow::Continue;
    };
    if route.scopes.is_empty() {
        return Flow::Continue;
    }
    match &ctx.principal {
        Some(p) if p.grants(&route.scopes) => Flow::Continue,
        _ => Flow::deny(Phase::Authorize, DenyCode::Forbidden),
    }
}
