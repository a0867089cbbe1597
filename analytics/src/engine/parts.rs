//! Owns the engine's small parts: who owns each object, the per-client volume
//! percentile, and the per-event helpers (method names, the principal, login
//! attempts, client counters, the request a finding names).
//!
//! Must stay O(1) per event and bounded, like the engine.

use std::sync::Arc;

use hashbrown::HashMap;
use hdrhistogram::Histogram;

use palisade_models::{DenyCode, LoginOutcome, RequestEvent};

use crate::client::{ClientRef, ClientState};
use crate::template::TemplateId;

/// Remembers who first read each object (the owner), in two generations so the
/// oldest half is forgotten when full.
#[derive(Debug)]
pub(super) struct Owners {
    cur: HashMap<(TemplateId, u64), u64>,
    old: HashMap<(TemplateId, u64), u64>,
    half: usize,
}

impl Owners {
    pub(super) fn new(max: usize) -> Self {
        Self {
            cur: HashMap::new(),
            old: HashMap::new(),
            half: (max / 2).max(1),
        }
    }

    /// Objects remembered, both generations.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.cur.len() + self.old.len()
    }

    /// The owner of an object, recording `who` as owner if nobody is yet.
    pub(super) fn owner_or_claim(&mut self, key: (TemplateId, u64), who: u64) -> u64 {
        if let Some(&o) = self.cur.get(&key) {
            return o;
        }
        let owner = self.old.get(&key).copied().unwrap_or(who);
        if self.cur.len() >= self.half {
            self.old = std::mem::take(&mut self.cur);
        }
        self.cur.insert(key, owner);
        owner
    }
}

/// The 95th percentile of per-client requests per window, over recent windows.
#[derive(Debug)]
pub(super) struct ClientVolume {
    hist: Histogram<u32>,
    pub(super) p95: u32,
    next_rotate_ms: u64,
}

impl ClientVolume {
    pub(super) fn new() -> Self {
        Self {
            // INVARIANT: constant, valid bounds.
            hist: Histogram::new_with_bounds(1, 10_000_000, 2)
                .unwrap_or_else(|e| unreachable!("constant histogram bounds: {e}")),
            p95: 0,
            next_rotate_ms: 0,
        }
    }

    pub(super) fn record(&mut self, requests: u32, now_ms: u64, window_ms: u64) {
        if requests > 0 {
            let _ = self.hist.record(u64::from(requests).min(10_000_000));
        }
        if now_ms >= self.next_rotate_ms {
            // Enough clients for a percentile to mean something.
            if self.hist.len() >= 20 {
                self.p95 = self.hist.value_at_quantile(0.95) as u32;
            }
            self.hist.reset();
            self.next_rotate_ms = now_ms + 10 * window_ms;
        }
    }
}

pub(super) fn method_name(
    cache: &mut HashMap<http::Method, Arc<str>>,
    m: &http::Method,
) -> Arc<str> {
    if let Some(a) = cache.get(m) {
        return a.clone();
    }
    let a: Arc<str> = Arc::from(m.as_str());
    // Extension methods are client-chosen: cache the standard ones only.
    if cache.len() < 16 {
        cache.insert(m.clone(), a.clone());
    }
    a
}

pub(super) fn principal(ev: &RequestEvent) -> Option<ClientRef<'_>> {
    ev.subject
        .as_deref()
        .map(ClientRef::Subject)
        .or_else(|| ev.api_key_id.as_deref().map(ClientRef::ApiKey))
}

pub(super) fn is_object_method(m: &http::Method) -> bool {
    matches!(
        *m,
        http::Method::GET | http::Method::PUT | http::Method::PATCH | http::Method::DELETE
    )
}

/// A login attempt: as the route's login rule judged it, or, on login-like paths
/// without one, by status.
pub(super) fn login_attempt(
    ev: &RequestEvent,
    template: &str,
) -> Option<(bool, Option<palisade_models::UsernameHash>)> {
    if let Some(l) = ev.login {
        return Some((l.outcome == LoginOutcome::Failed, l.username_hash));
    }
    if ev.method != http::Method::POST || ev.deny.is_some() {
        return None;
    }
    let last = template.rsplit('/').find(|s| !s.is_empty())?;
    let login_like = matches!(
        last.to_ascii_lowercase().as_str(),
        "login"
            | "signin"
            | "sign-in"
            | "sign_in"
            | "authenticate"
            | "session"
            | "sessions"
            | "token"
            | "logon"
    );
    if !login_like {
        return None;
    }
    match ev.status {
        401 | 403 => Some((true, None)),
        200..=299 => Some((false, None)),
        _ => None,
    }
}

pub(super) fn count(
    c: &mut ClientState,
    ev: &RequestEvent,
    login: Option<(bool, Option<palisade_models::UsernameHash>)>,
) {
    let k = &mut c.counts.cur;
    k.requests += 1;
    match login {
        Some((true, _)) => k.login_failed += 1,
        Some((false, _)) => k.login_ok += 1,
        None => match ev.status {
            401 => k.unauthorized += 1,
            403 if ev.deny.is_none_or(|d| d.code != DenyCode::Signature) => k.forbidden += 1,
            _ => {}
        },
    }
    match ev.status {
        404 => k.not_found += 1,
        _ if ev.server_error() => k.server_errors += 1,
        _ => {}
    }
    if ev.signatures.is_some() {
        k.signature_hits += 1;
    }
}

/// The request a finding raised on `ev` names (FindingRequest's doc: no query, the
/// user agent cut at 256 bytes).
pub(super) fn trigger(ev: &RequestEvent) -> palisade_models::FindingRequest {
    palisade_models::FindingRequest {
        method: ev.method.as_str().into(),
        path: ev.path.clone(),
        status: ev.status,
        peer_port: ev.peer_port,
        user_agent: ev.user_agent.as_deref().map(|ua| cut(ua, 256).into()),
    }
}

/// `s` cut to at most `max` bytes at a character boundary.
pub(super) fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
