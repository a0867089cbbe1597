//! The validate phase: a request on an OpenAPI operation against what the
//! operation declares, in two halves. `validate` checks the head (path, query
//! and header parameters) among the guards; `validate_body` checks the JSON
//! body once the read-ahead holds it (the whole body, up to
//! `openapi.max_body_bytes`). In block mode a broken rule is 400 `schema`; in
//! detect mode the request goes on. Either way what was found (names and rules,
//! never values) goes into the event, and `pipeline` logs it.
//!
//! Must not await or take a lock. Routes without validation cost one branch.

use http::Request;
use http::header::CONTENT_TYPE;
use hyper::body::Incoming;

use palisade_models::{DenyCode, Phase};
use palisade_openapi::BodyInput;

use crate::context::RequestCtx;
use crate::flow::Flow;
use crate::routes::RouteTable;

pub(crate) fn validate(ctx: &mut RequestCtx, req: &Request<Incoming>, table: &RouteTable) -> Flow {
    let Some(v) = ctx.route.and_then(|i| table.get(i).validation) else {
        return Flow::Continue;
    };
    let Some(op) = table.operation(&v) else {
        return Flow::Continue;
    };
    let uri = req.uri();
    // The route phase matched already; match again for the parameters only on
    // routes that validate, so the others do not pay for them.
    let Some(matched) = table.lookup_match(req.method(), uri.path()) else {
        return Flow::Continue;
    };
    op.check_head(
        |name| matched.params.get(name),
        uri.query(),
        req.headers(),
        v.unknown_query,
        &mut ctx.schema,
    );
    verdict(ctx, v.block)
}

/// True when the route's operation wants its JSON body read whole.
pub(crate) fn wants_body(ctx: &RequestCtx, req: &Request<Incoming>, table: &RouteTable) -> bool {
    ctx.route
        .and_then(|i| table.get(i).validation)
        .and_then(|v| table.operation(&v))
        .is_some_and(|op| {
            op.has_body()
                && op.wants_json_body(req.headers().get(CONTENT_TYPE).map(|c| c.as_bytes()))
        })
}

/// Checks the body read ahead; `whole` says whether it is all of it.
pub(crate) fn validate_body(
    ctx: &mut RequestCtx,
    parts: &http::request::Parts,
    ahead: &[u8],
    whole: bool,
    table: &RouteTable,
) -> Flow {
    let Some(v) = ctx.route.and_then(|i| table.get(i).validation) else {
        return Flow::Continue;
    };
    let Some(op) = table.operation(&v) else {
        return Flow::Continue;
    };
    if !op.has_body() {
        return Flow::Continue;
    }
    op.check_body(
        BodyInput {
            content_type: parts.headers.get(CONTENT_TYPE).map(|c| c.as_bytes()),
            bytes: ahead,
            complete: whole,
        },
        v.unknown_fields,
        &mut ctx.schema,
    );
    verdict(ctx, v.block)
}

fn verdict(ctx: &mut RequestCtx, block: bool) -> Flow {
    if block && ctx.schema.denies() {
        ctx.schema_denied = true;
        return Flow::deny(Phase::Validate, DenyCode::Schema);
    }
    Flow::Continue
}
