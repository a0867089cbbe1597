//! The inspect phase: attack signatures over the path, query, headers and the
//! first `signatures.body_bytes` of the body (read ahead by the pipeline), by
//! the signature engine. In block mode a score at the threshold ends the request
//! with 403 `signature`; in detect mode it is let through. Either way the
//! matched rules go into the event and one log line.
//!
//! Must not await or take a lock held by anyone else: the scratch space is the
//! worker's own. Must never log a matched value, only rule ids.

use std::sync::Mutex;

use http::header::CONTENT_TYPE;
use http::request::Parts;

use palisade_models::config::InspectMode;
use palisade_models::{DenyCode, Phase, SignatureMatch};
use palisade_signatures::{Engine, Request, Scratch};

use crate::context::RequestCtx;
use crate::flow::Flow;

pub(crate) fn inspect(
    ctx: &mut RequestCtx,
    parts: &Parts,
    body: &[u8],
    mode: InspectMode,
    engine: &Engine,
    scratch: &Mutex<Scratch>,
) -> Flow {
    if mode == InspectMode::Off {
        return Flow::Continue;
    }
    let headers: Vec<(&str, &[u8])> = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    let request = Request {
        method: parts.method.as_str(),
        path: parts.uri.path().as_bytes(),
        query: parts.uri.query().map(str::as_bytes),
        headers: &headers,
        content_type: parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        body,
    };
    let verdict = {
        // Only this worker's thread takes it: never contended.
        let mut scratch = scratch
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        engine.inspect(&request, &mut scratch)
    };
    if verdict.hits.is_empty() {
        return Flow::Continue;
    }
    let matched = SignatureMatch {
        score: verdict.score,
        rule_ids: verdict.hits.iter().map(|h| (*h.rule_id).into()).collect(),
        over_threshold: verdict.blocked,
    };
    let block = verdict.blocked && mode == InspectMode::Block;
    if !block {
        let ev = ctx.rec.event();
        tracing::info!(
            target: "palisade::signature",
            request_id = &*ev.request_id,
            client = %ev.client_ip,
            method = %ev.method,
            path = &*ev.path,
            score = matched.score,
            rules = %matched.rule_ids.join(","),
            would_block = matched.over_threshold,
            "signatures matched; request let through"
        );
    }
    ctx.rec.event().signatures = Some(Box::new(matched));
    if block {
        Flow::deny(Phase::Inspect, DenyCode::Signature)
    } else {
        Flow::Continue
    }
}
