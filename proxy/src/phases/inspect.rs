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

/// Headers passed to the engine without allocating.
const STACK_HEADERS: usize = 32;

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
    // On the stack for ordinary requests; a request with more headers than
    // that pays one allocation rather than going uninspected.
    let mut on_stack: [(&str, &[u8]); STACK_HEADERS] = [("", &[]); STACK_HEADERS];
    let on_heap: Vec<(&str, &[u8])>;
    let pairs = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()));
    let headers: &[(&str, &[u8])] = if parts.headers.len() <= STACK_HEADERS {
        let mut n = 0;
        for (slot, pair) in on_stack.iter_mut().zip(pairs) {
            *slot = pair;
            n += 1;
        }
        &on_stack[..n]
    } else {
        on_heap = pairs.collect();
        &on_heap
    };
    let request = Request {
        method: parts.method.as_str(),
        path: parts.uri.path().as_bytes(),
        query: parts.uri.query().map(str::as_bytes),
        headers,
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
