//! The authorize phase: the route's required scopes against the verified
//! credential's; any missing is 403 `forbidden`.
//!
//! Must not await or take a lock: it runs on every request.

use palisade_models::config::RouteAuth;
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
    // Only a credential the route accepts may grant them; a route taking both
    // accepts whichever the client presented.
    let (keys, tokens) = match route.auth {
        RouteAuth::ApiKey => (true, false),
        RouteAuth::Jwt => (false, true),
        RouteAuth::JwtOrApiKey => (true, true),
        RouteAuth::None => (false, false),
    };
    let by_key = keys
        && ctx
            .principal
            .as_ref()
            .is_some_and(|p| p.grants(&route.scopes));
    let by_token = tokens
        && ctx
            .identity
            .as_ref()
            .is_some_and(|i| i.grants(&route.scopes));
    if by_key || by_token {
        Flow::Continue
    } else {
        Flow::deny(Phase::Authorize, DenyCode::Forbidden)
    }
}
