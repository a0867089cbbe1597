//! The inspect phase: attack signatures over the path, query, headers and the
//! first `signatures.body_bytes` of the body (read ahead by the pipeline), by
//! the signature engine. In block mode a score at the threshold ends the request
//! with 403 `signature`; in detect mode it is let through. Either way the
//! matched rules go into the event and one log line.
//!
//! A body with a Content-Encoding is inspected decompressed (`encoded`); in
//! block mode one that cannot be decoded is refused: 415 `unsupported_encoding`
//! (unless `signatures.undecodable_bodies = "forward"`), 400 when corrupt, 413
//! past `signatures.max_compression_ratio`. Detect mode forwards and logs them.
//!
//! Must not await or take a lock held by anyone else: the scratch space is the
//! worker's own. Must never log a matched value, only rule ids.

use std::sync::Mutex;

use http::header::CONTENT_TYPE;
use http::request::Parts;

use palisade_models::config::{InspectMode, UndecodableBodies};
use palisade_models::{DenyCode, Phase, SignatureMatch};
use palisade_signatures::{Engine, Request, Scratch};

use crate::context::RequestCtx;
use crate::encoded::{self, Window};
use crate::flow::Flow;

/// What `signatures` says about compressed request bodies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EncodedBodies {
    /// Decompressed bytes inspected (`signatures.body_bytes`).
    pub(crate) keep: usize,
    pub(crate) undecodable: UndecodableBodies,
    pub(crate) max_ratio: u32,
}

/// The body bytes read ahead, and whether they are the whole body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ahead<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) whole: bool,
}

/// Headers passed to the engine without allocating.
const STACK_HEADERS: usize = 32;

pub(crate) fn inspect(
    ctx: &mut RequestCtx,
    parts: &Parts,
    ahead: Ahead<'_>,
    mode: InspectMode,
    engine: &Engine,
    (scratch, enc): (&Mutex<Scratch>, EncodedBodies),
) -> Flow {
    if mode == InspectMode::Off {
        return Flow::Continue;
    }
    let window = encoded::window(
        &parts.headers,
        ahead.bytes,
        ahead.whole,
        enc.keep,
        enc.max_ratio,
    );
    let body: &[u8] = match &window {
        Window::Plain => ahead.bytes,
        Window::Decoded(d) => d,
        refused => {
            let code = match refused {
                Window::Unsupported if enc.undecodable == UndecodableBodies::Forward => None,
                Window::Unsupported => Some(DenyCode::UnsupportedEncoding),
                Window::Corrupt => Some(DenyCode::BadRequest),
                _ => Some(DenyCode::BodyTooLarge),
            };
            if let (InspectMode::Block, Some(code)) = (mode, code) {
                ctx.deny_detail = Some(refused.reason());
                return Flow::deny(Phase::Inspect, code);
            }
            let ev = ctx.rec.event();
            tracing::info!(
                target: "palisade::signature",
                request_id = &*ev.request_id,
                client = %ev.client_ip,
                method = %ev.method,
                path = &*ev.path,
                why = refused.reason(),
                "request body not inspected; request let through"
            );
            // The head is still inspected.
            &[]
        }
    };
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
        // HTTP/1 requests carry a Host header, which the engine reads itself.
        host: parts.uri.authority().map(|a| a.as_str().as_bytes()),
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
