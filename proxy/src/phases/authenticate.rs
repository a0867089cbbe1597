//! The authenticate phase: a route that requires a credential gets one, or the
//! request ends with 401 `unauthenticated`. Credentials were verified by the
//! identify phase; this one only enforces the route's requirement.
//!
//! Must not await or take a lock: it runs on every request.

use palisade_models::config::RouteAuth;
use palisade_models::{DenyCode, Phase};

use crate::context::RequestCtx;
use crate::flow::Flow;
use crate::routes::RouteTable;

pub(crate) fn authenticate(ctx: &mut RequestCtx, table: &RouteTable) -> Flow {
    let required = ctx.route.map_or(RouteAuth::None, |i| table.get(i).auth);
    let ok = match required {
        RouteAuth::None => true,
        RouteAuth::ApiKey => ctx.principal.is_some(),
        RouteAuth::Jwt => ctx.identity.is_some(),
        RouteAuth::JwtOrApiKey => ctx.identity.is_some() || ctx.principal.is_some(),
    };
    if ok {
        return Flow::Continue;
    }
    // The operator's log says why (expired, bad_signature, …); the client only
    // learns it is unauthenticated.
    ctx.deny_detail = match (required, ctx.jwt_error) {
        (RouteAuth::ApiKey, _) => Some("no valid api key"),
        (_, Some(e)) => Some(e.as_str()),
        (_, None) => Some("missing"),
    };
    Flow::deny(Phase::Authenticate, DenyCode::Unauthenticated)
}
