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
    match required {
        RouteAuth::None => Flow::Continue,
        // Config validation refuses JWT routes until JWT lands; an API key is the
        // only credential a principal can come from today.
        RouteAuth::ApiKey | RouteAuth::Jwt | RouteAuth::JwtOrApiKey => {
            if ctx.principal.is_some() {
                Flow::Continue
            } else {
                Flow::deny(Phase::Authenticate, DenyCode::Unauthenticated)
            }
        }
    }
}
