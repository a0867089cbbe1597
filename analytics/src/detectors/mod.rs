//! The detectors, one file each, each named after the `kind` of finding it makes.
//! A detector looks at state the engine has already updated for the current event
//! (or bucket) and, when its condition holds, makes a finding through `Ctx`.
//!
//! Detectors must be O(1) per call, must not allocate unless they report, and must
//! never put a secret in evidence (no tokens, usernames, bodies: counts, rates,
//! templates and sample object ids only).

pub mod auth_failure_spike;
pub mod bola_enumeration;
pub mod brute_force;
pub mod credential_stuffing;
pub mod error_burst;
pub mod latency_anomaly;
pub mod mass_assignment;
pub mod new_endpoint;
pub mod probing;
pub mod scraping;
pub mod signature;
pub mod unusual_client;
pub mod volume_anomaly;

use palisade_models::{Finding, FindingClient, FindingId, FindingKind, Severity};
use serde_json::{Map, Value};

/// The client a per-request finding names, borrowed from the event: the owned
/// `FindingClient` (two string copies) is made only when a finding is.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    pub ip: std::net::IpAddr,
    pub subject: Option<&'a str>,
    pub api_key_id: Option<&'a str>,
}

impl Who<'_> {
    pub fn client(&self) -> FindingClient {
        FindingClient {
            ip: Some(self.ip),
            subject: self.subject.map(Box::from),
            api_key_id: self.api_key_id.map(Box::from),
        }
    }
}

/// Where detectors report to.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub now_ms: u64,
    pub window_ms: u64,
    pub out: &'a mut Vec<Finding>,
    pub rng: &'a mut Rng,
}

/// What a detector fills in; `Ctx::report` adds the id and time.
#[derive(Debug)]
pub struct Report {
    pub kind: FindingKind,
    pub severity: Severity,
    pub confidence: f32,
    pub client: FindingClient,
    pub endpoint: Option<Box<str>>,
    pub window_start_ms: u64,
    pub summary: String,
    pub evidence: Map<String, Value>,
}

impl Ctx<'_> {
    pub fn report(&mut self, r: Report) {
        self.out.push(Finding {
            instance: None,
            id: FindingId::new(self.now_ms, self.rng.next_u128()),
            kind: r.kind,
            severity: r.severity,
            confidence: r.confidence.clamp(0.0, 1.0),
            client: r.client,
            endpoint: r.endpoint,
            window_start_ms: r.window_start_ms,
            window_end_ms: self.now_ms,
            summary: r.summary.into_boxed_str(),
            evidence: r.evidence,
            request: None,
        });
    }

    /// Start of the previous client window: what "the last one to two windows"
    /// covers.
    pub fn client_window_start(&self) -> u64 {
        let cur = self.now_ms - self.now_ms % self.window_ms;
        cur.saturating_sub(self.window_ms)
    }
}

/// Builds an evidence object: `evidence![ "failures" => 20, "ratio" => 0.9 ]`.
#[macro_export]
macro_rules! evidence {
    ($($k:expr => $v:expr),* $(,)?) => {{
        let mut m = serde_json::Map::new();
        $( m.insert($k.to_string(), serde_json::json!($v)); )*
        m
    }};
}

/// A small xorshift generator for finding ids (not for secrets).
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new() -> Self {
        use std::hash::{BuildHasher, RandomState};
        Self(RandomState::new().hash_one(0x5eed_u64) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn next_u128(&mut self) -> u128 {
        (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())
    }
}

impl Default for Rng {
    fn default() -> Self {
        Self::new()
    }
}

/// Client-level kinds are reported again after two windows at the earliest.
pub fn cooldown_s(ctx: &Ctx<'_>) -> u32 {
    (2 * ctx.window_ms / 1000) as u32
}

/// Three decimals, for evidence.
pub fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Confidence that grows from `base` towards 1 as `observed` exceeds `threshold`.
pub fn confidence(base: f32, observed: f64, threshold: f64) -> f32 {
    if threshold <= 0.0 {
        return base;
    }
    let over = (observed / threshold).max(1.0);
    (base + (1.0 - base) * (1.0 - 1.0 / over) as f32).min(0.99)
}
