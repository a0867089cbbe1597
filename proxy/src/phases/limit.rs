//! The limit phase: the route's own head caps (414, 431), its body cap (413,
//! checked here against a declared length and enforced while streaming for
//! bodies without one), and its rate limits (429, with what the client needs to
//! back off: `Retry-After` and the RateLimit headers, set by `respond`).
//!
//! `limit` must not await or take a lock: it runs on every request. Only
//! `limit_cluster` awaits, and only when a cluster limit's leased tokens ran out.

use http::Request;
use http_body::Body as _;
use hyper::body::Incoming;

use palisade_models::cluster::ClusterLimiter;
use palisade_models::{DenyCode, Phase};

use crate::context::RequestCtx;
use crate::flow::Flow;
use crate::limits::RateLimits;
use crate::phases::accept::head_bytes;
use crate::routes::RouteTable;

pub(crate) fn limit(
    ctx: &mut RequestCtx,
    req: &Request<Incoming>,
    table: &RouteTable,
    limits: &RateLimits,
) -> Flow {
    let route = ctx.route.map(|i| table.get(i));
    if let Some(r) = route {
        if let Some(max) = r.max_url_bytes {
            let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
            if target > max {
                return Flow::deny(Phase::Limit, DenyCode::UrlTooLong);
            }
        }
        if r.max_header_bytes.is_some_and(|max| head_bytes(req) > max) {
            return Flow::deny(Phase::Limit, DenyCode::HeadersTooLarge);
        }
    }
    let max = route.map_or(table.default_max_body, |r| r.max_body);
    ctx.max_body = max;
    // hyper has already parsed Content-Length (HTTP/1) or content-length (HTTP/2)
    // into the body's exact size.
    if req.body().size_hint().exact().is_some_and(|len| len > max) {
        return Flow::deny(Phase::Limit, DenyCode::BodyTooLarge);
    }
    let limiter = match route {
        Some(r) => r.limiter.as_ref(),
        None => limits.undeclared(),
    };
    match limits.check(limiter, &ctx.client()) {
        Ok(ask) => {
            ctx.cluster_ask = ask;
            Flow::Continue
        }
        Err(limited) => {
            ctx.limited = Some(limited);
            Flow::deny(Phase::Limit, DenyCode::RateLimited)
        }
    }
}

/// The rest of the limit phase on a `scope = "cluster"` route whose leased
/// tokens ran out: takes new ones from the fleet's buckets (bounded by
/// `fleet.command_timeout`). Without a fleet (never configured: validation
/// refuses cluster scope without one), there is nothing to ask.
pub(crate) async fn limit_cluster(
    ctx: &mut RequestCtx,
    limits: &RateLimits,
    cluster: Option<&dyn ClusterLimiter>,
) -> Flow {
    let (Some(ask), Some(cluster)) = (ctx.cluster_ask.take(), cluster) else {
        return Flow::Continue;
    };
    match limits.acquire(ask, cluster).await {
        Ok(()) => Flow::Continue,
        Err(limited) => {
            ctx.limited = Some(limited);
            Flow::deny(Phase::Limit, DenyCode::RateLimited)
        }
    }
}
