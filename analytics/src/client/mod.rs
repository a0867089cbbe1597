//! Owns per-client state: who a client is (`ClientKey`: a principal or an address),
//! its counters over the last one to two windows, and the bounded table that holds
//! them with idle eviction.
//!
//! Every request updates two entries: its address (what address-level detectors,
//! such as stuffing and probing, look at, and what sees a NAT's whole traffic) and,
//! when it carries a verified credential, its principal (what BOLA and scraping
//! look at, so rotating addresses hides nothing). Must stay within about 1 KiB per
//! entry: everything here is inline, fixed-size.

use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::Equivalent;

use palisade_models::config::MAX_SENSITIVE_PATHS;

use crate::sketch::{Distinct, Few, Pair};

/// A tracked client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientKey {
    Ip(IpAddr),
    Subject(Arc<str>),
    ApiKey(Arc<str>),
}

/// A client key borrowed from an event, to look up without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientRef<'a> {
    Ip(IpAddr),
    Subject(&'a str),
    ApiKey(&'a str),
}

impl Hash for ClientKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.as_ref().hash(h);
    }
}

impl Hash for ClientRef<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        match self {
            // One write per address rather than the derived tag, length and bytes:
            // this runs for every event.
            ClientRef::Ip(IpAddr::V4(a)) => h.write_u64(u64::from(a.to_bits())),
            ClientRef::Ip(IpAddr::V6(a)) => {
                h.write_u8(6);
                h.write_u128(a.to_bits());
            }
            ClientRef::Subject(s) => {
                h.write_u8(1);
                s.hash(h);
            }
            ClientRef::ApiKey(k) => {
                h.write_u8(2);
                k.hash(h);
            }
        }
    }
}

impl Equivalent<ClientKey> for ClientRef<'_> {
    fn equivalent(&self, key: &ClientKey) -> bool {
        *self == key.as_ref()
    }
}

impl ClientKey {
    pub fn as_ref(&self) -> ClientRef<'_> {
        match self {
            ClientKey::Ip(ip) => ClientRef::Ip(*ip),
            ClientKey::Subject(s) => ClientRef::Subject(s),
            ClientKey::ApiKey(k) => ClientRef::ApiKey(k),
        }
    }
}

impl ClientRef<'_> {
    pub fn to_owned(self) -> ClientKey {
        match self {
            ClientRef::Ip(ip) => ClientKey::Ip(ip),
            ClientRef::Subject(s) => ClientKey::Subject(s.into()),
            ClientRef::ApiKey(k) => ClientKey::ApiKey(k.into()),
        }
    }

    /// A stable 64-bit identity, for object ownership.
    pub fn hash64(self) -> u64 {
        use std::hash::BuildHasher;
        crate::sketch::state().hash_one(self)
    }
}

/// Counts over one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: u32,
    pub unauthorized: u32,
    pub forbidden: u32,
    pub not_found: u32,
    pub server_errors: u32,
    pub login_failed: u32,
    pub login_ok: u32,
    pub signature_hits: u32,
}

/// What one client did with one object template.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ObjectSlot {
    /// Template id + 1 (0: free slot).
    pub template: u32,
    pub last_used_s: u32,
    pub ids: Pair<Distinct<4>>,
    pub denied: Pair<Distinct<2>>,
    pub foreign: Pair<Distinct<2>>,
    /// Steps to an id within ±2 of the previous one.
    pub seq_steps: Pair<u32>,
    pub last_num: Option<i64>,
    pub min_num: i64,
    pub max_num: i64,
    /// The last few numeric ids, for evidence.
    pub samples: [i64; 4],
    pub nsamples: u8,
}

pub const OBJECT_SLOTS: usize = 3;

/// Everything kept about one client.
#[derive(Debug, Clone, Default)]
pub struct ClientState {
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    /// Start of the current window.
    pub window_start_ms: u64,
    pub counts: Pair<Counts>,
    pub failed_usernames: Pair<Distinct<2>>,
    pub missing_paths: Pair<Distinct<2>>,
    /// Distinct sensitive-file paths asked for (a health check asking for the same
    /// one all day is one), counted exactly: the threshold is a handful.
    pub sensitive_paths: Pair<Few<{ MAX_SENSITIVE_PATHS as usize }>>,
    pub objects: [ObjectSlot; OBJECT_SLOTS],
    /// Inter-arrival time, ms: exponentially weighted mean and variance.
    pub gap_mean: f32,
    pub gap_var: f32,
    /// Hash of the User-Agent last seen.
    pub shape: u32,
    /// When each client-level kind was last reported (seconds since the epoch),
    /// indexed by `Reported`.
    pub reported_s: [u32; REPORTED_KINDS],
}

/// Kinds reported per client, to keep one finding per episode.
#[derive(Debug, Clone, Copy)]
pub enum Reported {
    AuthFailure = 0,
    Bola,
    Stuffing,
    BruteForce,
    Scraping,
    Probing,
    ProbingMedium,
    Signature,
    MassAssignment,
}

pub const REPORTED_KINDS: usize = 9;

impl ClientState {
    pub fn new(now_ms: u64, window_ms: u64) -> Self {
        Self {
            first_seen_ms: now_ms,
            last_seen_ms: now_ms,
            window_start_ms: now_ms - now_ms % window_ms,
            ..Self::default()
        }
    }

    /// Moves the windows forward to the one holding `now_ms`; returns the requests
    /// of the window that just closed, if one did.
    pub fn advance(&mut self, now_ms: u64, window_ms: u64) -> Option<u32> {
        if now_ms < self.window_start_ms + window_ms {
            return None;
        }
        let closed = self.counts.cur.requests;
        let skipped = now_ms >= self.window_start_ms + 2 * window_ms;
        self.counts.roll(skipped);
        self.failed_usernames.roll(skipped);
        self.missing_paths.roll(skipped);
        self.sensitive_paths.roll(skipped);
        for slot in self.objects.iter_mut().filter(|s| s.template != 0) {
            slot.ids.roll(skipped);
            slot.denied.roll(skipped);
            slot.foreign.roll(skipped);
            slot.seq_steps.roll(skipped);
        }
        self.window_start_ms = now_ms - now_ms % window_ms;
        Some(closed)
    }

    /// Records the gap since the last request.
    pub fn touch(&mut self, now_ms: u64) {
        let gap = now_ms.saturating_sub(self.last_seen_ms) as f32;
        if self.counts.cur.requests + self.counts.prev.requests > 0 {
            let d = gap - self.gap_mean;
            self.gap_mean += 0.1 * d;
            self.gap_var = 0.9 * (self.gap_var + 0.1 * d * d);
        }
        self.last_seen_ms = self.last_seen_ms.max(now_ms);
    }

    /// Requests over the last one to two windows.
    pub fn total(&self, f: impl Fn(&Counts) -> u32) -> u32 {
        f(&self.counts.cur).saturating_add(f(&self.counts.prev))
    }

    /// The slot for `template`, taking the least recently used one if needed.
    pub fn slot(&mut self, template: u32, now_s: u32) -> &mut ObjectSlot {
        let tag = template + 1;
        let i = self
            .objects
            .iter()
            .position(|s| s.template == tag)
            .unwrap_or_else(|| {
                let (i, _) = self
                    .objects
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, s)| (s.template != 0, s.last_used_s))
                    .unwrap_or((0, &self.objects[0]));
                self.objects[i] = ObjectSlot {
                    template: tag,
                    ..ObjectSlot::default()
                };
                i
            });
        let slot = &mut self.objects[i];
        slot.last_used_s = now_s;
        slot
    }

    /// True (and remembers it) when `kind` was not reported within `cooldown_s`.
    pub fn should_report(&mut self, kind: Reported, now_s: u32, cooldown_s: u32) -> bool {
        let last = &mut self.reported_s[kind as usize];
        if *last != 0 && now_s < last.saturating_add(cooldown_s) {
            return false;
        }
        *last = now_s;
        true
    }

    /// Inter-arrival regularity: the coefficient of variation of gaps (low = a
    /// metronome, typical of scripts).
    pub fn gap_cv(&self) -> f32 {
        if self.gap_mean <= 0.0 {
            return 0.0;
        }
        self.gap_var.max(0.0).sqrt() / self.gap_mean
    }
}

impl ObjectSlot {
    /// Records one access to a numeric or opaque id.
    pub fn record(&mut self, id_hash: u64, num: Option<i64>) {
        self.ids.cur.insert(id_hash);
        if let Some(n) = num {
            if let Some(last) = self.last_num {
                let step = n.abs_diff(last);
                if step > 0 && step <= 2 {
                    self.seq_steps.cur += 1;
                }
            }
            if self.last_num.is_none() {
                self.min_num = n;
                self.max_num = n;
            }
            self.min_num = self.min_num.min(n);
            self.max_num = self.max_num.max(n);
            self.last_num = Some(n);
            self.samples[self.nsamples as usize % 4] = n;
            self.nsamples = self.nsamples.wrapping_add(1);
        }
    }

    pub fn sample_ids(&self) -> Vec<i64> {
        let n = (self.nsamples as usize).min(4);
        let mut v: Vec<i64> = self.samples[..n].to_vec();
        v.sort_unstable();
        v
    }
}

mod table;

pub use table::{Clients, Slot};

#[cfg(test)]
mod tests;
