//! Owns the seam between the analytics engine and the fleet for fleet-wide
//! detection: what one sidecar saw since its last exchange (`TallyBatch`), and
//! what the whole fleet has seen (`TallyCounts`) in return. The engine fills and
//! reads these without I/O; the fleet crate turns them into HyperLogLog and
//! counter updates in Redis. Neither depends on the other.
//!
//! Nothing here may carry a secret: principals are named by a stable hash (or the
//! address), object ids and usernames travel as 64-bit hashes only.

use std::net::IpAddr;

/// What the engine saw since the last exchange.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TallyBatch {
    /// Object ids one principal touched on one endpoint.
    pub objects: Vec<ObjectTally>,
    /// Login attempts of one address on one login endpoint.
    pub logins: Vec<LoginTally>,
    /// Findings this sidecar would report from fleet counts: whoever claims a
    /// key first reports it, so the fleet reports each once.
    pub claims: Vec<Claim>,
}

impl TallyBatch {
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty() && self.logins.is_empty() && self.claims.is_empty()
    }
}

/// One principal on one object endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectTally {
    /// The principal's name in the fleet: `ip:…`, `sub:…` or `key:…` (hashed).
    pub principal: String,
    /// `METHOD /template`.
    pub endpoint: String,
    /// Hashes of the object ids touched, answered 403/404, and owned by others.
    pub ids: Vec<u64>,
    pub denied: Vec<u64>,
    pub foreign: Vec<u64>,
}

/// One address on one login endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginTally {
    pub ip: IpAddr,
    pub endpoint: String,
    /// Hashes of the usernames that failed (salted: comparable across sidecars
    /// only when they share `routes.login_salt_env`).
    pub failed_usernames: Vec<u64>,
    pub failures: u32,
    pub successes: u32,
}

/// A claim on reporting one fleet-wide finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub key: String,
    /// How long the claim holds (the detector's cooldown).
    pub ttl_ms: u64,
}

/// What the fleet has seen over the current and the previous counter window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TallyCounts {
    /// In the order of the batch's `objects`.
    pub objects: Vec<ObjectCounts>,
    /// In the order of the batch's `logins`.
    pub logins: Vec<LoginCounts>,
    /// The keys of the claims this sidecar won.
    pub won: Vec<String>,
}

/// Distinct object ids across the fleet (HyperLogLog estimates).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ObjectCounts {
    pub ids: u32,
    pub denied: u32,
    pub foreign: u32,
}

/// Login attempts across the fleet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoginCounts {
    pub failed_usernames: u32,
    pub failures: u32,
    pub successes: u32,
}
