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

/// Makes room in a detector's table that reached `cap` entries, keeping what
/// an attack under way needs: entries whose counting windows have passed
/// (`stale`) go first, then those of the lowest `weight` (failures seen), the
/// cut doubling until at most half of `cap` remains. Emptying the table
/// instead let a flood of keys seen once (new usernames, new User-Agents)
/// wipe out the counts of the attack it was sent to hide.
///
/// O(entries) per pass and at most 34 passes, but it leaves half the table
/// free, so at most once per `cap / 2` new keys: O(1) per event amortised.
pub(crate) fn make_room<K, V>(
    map: &mut hashbrown::HashMap<K, V>,
    cap: usize,
    stale: impl Fn(&V) -> bool,
    weight: impl Fn(&V) -> u32,
) {
    map.retain(|_, v| !stale(v));
    let mut floor = 1u32;
    while map.len() > cap / 2 {
        map.retain(|_, v| weight(v) > floor);
        floor = floor.saturating_mul(2);
    }
}

#[cfg(test)]
mod room_tests {
    use super::make_room;

    #[test]
    fn a_full_table_keeps_its_heaviest_live_entries() {
        // (stale, weight) per key: 1,000 seen once, 100 seen a few times, 10
        // heavy, and 50 heavy but stale.
        let mut map: hashbrown::HashMap<u32, (bool, u32)> = hashbrown::HashMap::new();
        for k in 0..1_000 {
            map.insert(k, (false, 1));
        }
        for k in 1_000..1_100 {
            map.insert(k, (false, 3));
        }
        for k in 1_100..1_110 {
            map.insert(k, (false, 500));
        }
        for k in 1_110..1_160 {
            map.insert(k, (true, 500));
        }
        make_room(&mut map, 1_160, |v| v.0, |v| v.1);
        assert_eq!(map.len(), 110, "the once-seen and the stale go");
        assert!((1_000..1_110).all(|k| map.contains_key(&k)));

        // Only heavy entries: the cut rises until half the cap is free.
        let mut map: hashbrown::HashMap<u32, (bool, u32)> =
            (0..1_000).map(|k| (k, (false, 10 + k))).collect();
        make_room(&mut map, 1_000, |v| v.0, |v| v.1);
        assert!(map.len() <= 500, "{}", map.len());
        assert!(map.contains_key(&999), "the heaviest stays");
        assert!(!map.contains_key(&0), "the lightest goes");
    }
}
