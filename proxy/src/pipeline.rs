//! Owns the order of the request path (DESIGN.md, "Request path"): the only file
//! that knows it. Each phase returns `Flow::Continue` or a denial; the first denial
//! stops the request, and `respond::denial` answers it. Every request, allowed or
//! denied, leaves one event through the recorder.

use std::convert::Infallible;
use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use palisade_models::config::InspectMode;
use palisade_models::{Denial, DenyCode, Phase};

use crate::body::ProxyBody;
use crate::conn::ConnInfo;
use crate::context::RequestCtx;
use crate::deny::DenyEvent;
use crate::flow::Flow;
use crate::login::USERNAME_READ_AHEAD;
use crate::phases::{
    accept::accept,
    authenticate::authenticate,
    authorize::authorize,
    block::block,
    forward::{forward, read_body},
    identify::identify,
    inspect::{Ahead, inspect},
    limit::{limit, limit_cluster},
    route::route,
    validate::{validate, validate_body, wants_body},
};
use crate::respond;
use crate::routes::RouteTable;
use crate::server::Worker;

/// Serves one request.
pub(crate) async fn handle(
    req: Request<Incoming>,
    w: Arc<Worker>,
    conn: Arc<ConnInfo>,
) -> Result<Response<ProxyBody>, Infallible> {
    // Load shedding comes first, so a shed request costs no phase and never
    // reaches the upstream; it is still recorded like any denial.
    let admitted = w
        .shared
        .stats
        .admit_request(w.shared.settings.max_in_flight);
    let mut ctx = RequestCtx::new(&req, w.shared.clone(), conn);
    // One table for the whole request, even if a new spec is swapped in meanwhile.
    let table = w.shared.routes.load_full();
    let outcome = match admitted {
        None => Err(Denial {
            phase: Phase::Accept,
            code: DenyCode::Overloaded,
        }),
        Some(slot) => {
            ctx.rec.hold(slot);
            match guards(&mut ctx, &req, &w, &table) {
                Flow::Continue => proceed(&mut ctx, req, &w, &table).await,
                Flow::Deny(d) => Err(d),
            }
        }
    };
    if !ctx.schema.is_empty() {
        record_schema(&mut ctx);
    }
    let s = &w.shared.settings;
    let mut response = match outcome {
        Ok(r) => r,
        Err(d) => {
            ctx.deny(d);
            let ev = ctx.rec.event();
            let detail = match (&ev.signatures, &ev.schema) {
                (_, Some(r)) if d.code == DenyCode::Schema => Some(violations_text(r)),
                (Some(m), _) => Some(format!("rules {}", m.rule_ids.join(","))),
                _ => None,
            };
            DenyEvent {
                phase: d.phase,
                code: d.code,
                client: ev.client_ip,
                request_id: &ev.request_id,
                method: Some(ev.method.as_str()),
                path: Some(&ev.path),
                api_key_id: ev.api_key_id.as_deref(),
                detail: detail.as_deref().or(ctx.deny_detail),
            }
            .emit(&w.shared.stats);
            if d.code == DenyCode::Overloaded && w.shed_warnings.allow() {
                tracing::warn!(
                    target: "palisade::overload",
                    max_in_flight = s.max_in_flight,
                    "shedding load: proxy.limits.max_in_flight requests in flight; answering 503 (the upstream is slow or the offered load beyond capacity)"
                );
            }
            respond::denial(d, &ctx.request_id, &s.request_id_header, ctx.limited)
        }
    };
    ctx.rec.event().status = response.status().as_u16();
    response.body_mut().attach(ctx.rec);
    Ok(response)
}

/// Past the head's guards: read what the body phases need, check it, forward.
async fn proceed(
    ctx: &mut RequestCtx,
    req: Request<Incoming>,
    w: &Worker,
    table: &RouteTable,
) -> Result<Response<ProxyBody>, Denial> {
    // The only wait on Redis a request can have, and only on a cluster-limited
    // route whose leased tokens ran out.
    if let Flow::Deny(d) = limit_cluster(ctx, &w.shared.limits, w.shared.cluster.as_deref()).await {
        return Err(d);
    }
    let login = ctx.route.and_then(|i| table.get(i).login.as_ref());
    let engine = w.shared.signatures.as_deref();
    let mode = table.inspect_mode(ctx.route);
    let mut want = 0;
    if login.is_some_and(|l| l.username_field.is_some()) {
        want = USERNAME_READ_AHEAD;
    }
    if engine.is_some() && mode != InspectMode::Off {
        want = want.max(w.shared.inspect_body_bytes);
    }
    if wants_body(ctx, &req, table) {
        // One byte past the cap tells a body at the cap from a larger one.
        want = want.max(w.shared.validate_body_bytes + 1);
    }
    let (parts, body) = req.into_parts();
    let (body, ahead, read_whole) = read_body(ctx, body, w, want).await?;
    let whole = read_whole && ahead.len() <= w.shared.validate_body_bytes;
    if let Flow::Deny(d) = validate_body(ctx, &parts, &ahead, whole, table) {
        return Err(d);
    }
    if let Some(e) = engine
        && let Flow::Deny(d) = inspect(
            ctx,
            &parts,
            Ahead {
                bytes: &ahead,
                whole: read_whole,
            },
            mode,
            e,
            (&w.scratch, w.shared.encoded_bodies),
        )
    {
        return Err(d);
    }
    if let Some(l) = login {
        let hash = l.username(&w.shared.salt, &parts.headers, &ahead);
        ctx.rec.set_username(hash);
    }
    let resp = forward(ctx, parts, body, w, table).await?;
    let (parts, body) = resp.into_parts();
    Ok(Response::from_parts(parts, ProxyBody::upstream(body)))
}

/// The guard phases, in order; the first denial wins.
fn guards(ctx: &mut RequestCtx, req: &Request<Incoming>, w: &Worker, table: &RouteTable) -> Flow {
    macro_rules! run {
        ($phase:expr) => {
            if let Flow::Deny(d) = $phase {
                return Flow::Deny(d);
            }
        };
    }
    let s = &w.shared.settings;
    run!(accept(req, s));
    run!(identify(
        ctx,
        req.headers(),
        s,
        &w.shared.api_keys,
        w.shared.jwt.as_ref()
    ));
    run!(block(ctx, &w.shared));
    run!(route(ctx, req, table));
    run!(authenticate(ctx, table));
    run!(authorize(ctx, table));
    // The head here; the body in `proceed`, once it is read.
    run!(validate(ctx, req, table));
    run!(limit(ctx, req, table, &w.shared.limits));
    // inspect runs in `proceed`, once the body's first KiB are read.
    Flow::Continue
}

/// Moves what validation found into the event, and logs what was let through.
fn record_schema(ctx: &mut RequestCtx) {
    let denied = ctx.schema_denied;
    let report = std::mem::take(&mut ctx.schema);
    let ev = ctx.rec.event();
    ev.schema = report.into_event(denied);
    let Some(r) = ev.schema.as_deref() else {
        return;
    };
    if denied {
        // The deny log line carries them.
        return;
    }
    let serious = r
        .violations
        .iter()
        .any(|v| v.kind != palisade_models::ViolationKind::Unknown);
    let text = violations_text(r);
    if serious {
        tracing::info!(
            target: "palisade::schema",
            request_id = &*ev.request_id,
            client = %ev.client_ip,
            method = %ev.method,
            path = &*ev.path,
            violations = %text,
            "OpenAPI violations; request let through"
        );
    } else {
        tracing::debug!(
            target: "palisade::schema",
            request_id = &*ev.request_id,
            path = &*ev.path,
            undeclared = %text,
            "undeclared parameters flagged"
        );
    }
}

/// `query.limit: maximum, body/role: unknown (mass assignment)`.
fn violations_text(r: &palisade_models::SchemaReport) -> String {
    let mut out = String::new();
    for (i, v) in r.violations.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&v.to_string());
        if v.kind == palisade_models::ViolationKind::MassAssignment {
            out.push_str(" (mass assignment)");
        }
    }
    out
}
