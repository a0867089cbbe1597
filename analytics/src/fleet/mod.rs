//! Owns the engine's side of fleet-wide detection (fleet mode): what this
//! sidecar saw of object walks and login attempts since the last exchange, kept
//! as hashes in a `TallyBatch`; and, when the fleet's counts come back, the
//! `bola_enumeration` and `credential_stuffing` judgements on them, so an attack
//! spread by a load balancer over many sidecars is caught as if it had hit one.
//! A finding the fleet's counts reveal is claimed first (one sidecar of the
//! fleet reports it) and carries this sidecar's instance.
//!
//! Must not do I/O (the worker hands batches to the fleet link) and must stay
//! bounded: at most `MAX_KEYS` entries and `MAX_HASHES` hashes per entry between
//! two exchanges; what does not fit waits for the next (counted in `dropped`).

use std::hash::BuildHasher;
use std::net::IpAddr;

use hashbrown::HashMap;
use palisade_models::config::DetectorsConfig;
use palisade_models::tally::{
    Claim, LoginCounts, LoginTally, ObjectCounts, ObjectTally, TallyBatch, TallyCounts,
};
use palisade_models::{Finding, FindingClient, FindingKind, Severity};

use crate::client::{ClientRef, Clients, Reported};
use crate::detectors::bola_enumeration::Ownership;
use crate::detectors::{Ctx, Report, Rng, confidence, cooldown_s, round};
use crate::evidence;

/// Entries (principal and endpoint, or address and login endpoint) per exchange.
const MAX_KEYS: usize = 10_000;
/// Hashes per entry and kind per exchange.
const MAX_HASHES: usize = 512;
/// Claims waiting for an answer.
const MAX_PENDING: usize = 1_000;

/// The same on every sidecar: object ids and principals hash alike fleet-wide.
fn stable() -> foldhash::fast::FixedState {
    foldhash::fast::FixedState::with_seed(0x7061_6c69_7361_6465)
}

/// A stable 64-bit hash of `s`, the same on every sidecar.
pub fn stable_hash(s: &str) -> u64 {
    stable().hash_one(s)
}

#[derive(Debug)]
struct ObjectEntry {
    principal: String,
    who: FindingClient,
    endpoint: Box<str>,
    ownership: Ownership,
    /// The numeric ids' span seen here: the fleet's distinct ids over it is the
    /// walk's density.
    span: Option<(i64, i64)>,
    ids: Vec<u64>,
    denied: Vec<u64>,
    foreign: Vec<u64>,
}

#[derive(Debug)]
struct LoginEntry {
    endpoint: Box<str>,
    failed_usernames: Vec<u64>,
    failures: u32,
    successes: u32,
}

/// What an object request adds to the tally.
#[derive(Debug, Clone, Copy)]
pub struct ObjectSeen<'a> {
    pub principal: ClientRef<'a>,
    pub who: crate::detectors::Who<'a>,
    pub endpoint: &'a str,
    pub template: u32,
    pub id: &'a str,
    pub denied: bool,
    pub foreign: bool,
    pub ownership: Ownership,
}

/// The engine's fleet tally.
#[derive(Debug)]
pub struct FleetTally {
    instance: Box<str>,
    objects: HashMap<(u8, u64, u32), ObjectEntry>,
    logins: HashMap<(IpAddr, u32), LoginEntry>,
    /// What the exchange in flight carries, in its order.
    sent_objects: Vec<ObjectEntry>,
    sent_logins: Vec<(IpAddr, LoginEntry)>,
    in_flight: bool,
    /// Findings waiting for their claim, by claim key.
    pending: HashMap<String, Finding>,
    /// Claims to send with the next exchange.
    claims: Vec<Claim>,
    /// Observations that did not fit between two exchanges.
    pub dropped: u64,
}

fn push_bounded(v: &mut Vec<u64>, h: u64, dropped: &mut u64) {
    if v.len() < MAX_HASHES {
        v.push(h);
    } else {
        *dropped += 1;
    }
}

impl FleetTally {
    pub fn new(instance: &str) -> Self {
        Self {
            instance: instance.into(),
            objects: HashMap::new(),
            logins: HashMap::new(),
            sent_objects: Vec::new(),
            sent_logins: Vec::new(),
            in_flight: false,
            pending: HashMap::new(),
            claims: Vec::new(),
            dropped: 0,
        }
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Counts one request on an object endpoint.
    pub fn object(&mut self, o: &ObjectSeen<'_>) {
        let (kind, name, hash) = match o.principal {
            ClientRef::Ip(ip) => (0, None, stable().hash_one(ip)),
            ClientRef::Subject(s) => (1, Some("sub"), stable_hash(s)),
            ClientRef::ApiKey(k) => (2, Some("key"), stable_hash(k)),
        };
        let key = (kind, hash, o.template);
        if !self.objects.contains_key(&key) && self.objects.len() >= MAX_KEYS {
            self.dropped += 1;
            return;
        }
        let e = self.objects.entry(key).or_insert_with(|| ObjectEntry {
            principal: match (name, o.principal) {
                (Some(kind), _) => format!("{kind}:{hash:016x}"),
                (None, ClientRef::Ip(ip)) => format!("ip:{ip}"),
                (None, _) => format!("p:{hash:016x}"),
            },
            who: o.who.client(),
            endpoint: o.endpoint.into(),
            ownership: o.ownership,
            span: None,
            ids: Vec::new(),
            denied: Vec::new(),
            foreign: Vec::new(),
        });
        e.ownership = o.ownership;
        if let Ok(n) = o.id.parse::<i64>() {
            e.span = Some(e.span.map_or((n, n), |(lo, hi)| (lo.min(n), hi.max(n))));
        }
        let h = stable_hash(o.id);
        push_bounded(&mut e.ids, h, &mut self.dropped);
        if o.denied {
            push_bounded(&mut e.denied, h, &mut self.dropped);
        }
        if o.foreign {
            push_bounded(&mut e.foreign, h, &mut self.dropped);
        }
    }

    /// Counts one login attempt.
    pub fn login(
        &mut self,
        ip: IpAddr,
        endpoint: &str,
        template: u32,
        failed: bool,
        username: Option<u64>,
    ) {
        let key = (ip, template);
        if !self.logins.contains_key(&key) && self.logins.len() >= MAX_KEYS {
            self.dropped += 1;
            return;
        }
        let e = self.logins.entry(key).or_insert_with(|| LoginEntry {
            endpoint: endpoint.into(),
            failed_usernames: Vec::new(),
            failures: 0,
            successes: 0,
        });
        if failed {
            e.failures = e.failures.saturating_add(1);
            if let Some(u) = username {
                push_bounded(&mut e.failed_usernames, u, &mut self.dropped);
            }
        } else {
            e.successes = e.successes.saturating_add(1);
        }
    }

    /// What to send to the fleet now: None while an exchange is in flight or
    /// when there is nothing to send.
    pub fn take(&mut self) -> Option<TallyBatch> {
        if self.in_flight
            || (self.objects.is_empty() && self.logins.is_empty() && self.claims.is_empty())
        {
            return None;
        }
        self.sent_objects = self.objects.drain().map(|(_, e)| e).collect();
        self.sent_logins = self.logins.drain().map(|((ip, _), e)| (ip, e)).collect();
        let batch = TallyBatch {
            // The hashes go out; what stays is what judging the answer needs.
            objects: self
                .sent_objects
                .iter_mut()
                .map(|e| ObjectTally {
                    principal: e.principal.clone(),
                    endpoint: e.endpoint.to_string(),
                    ids: std::mem::take(&mut e.ids),
                    denied: std::mem::take(&mut e.denied),
                    foreign: std::mem::take(&mut e.foreign),
                })
                .collect(),
            logins: self
                .sent_logins
                .iter_mut()
                .map(|(ip, e)| LoginTally {
                    ip: *ip,
                    endpoint: e.endpoint.to_string(),
                    failed_usernames: std::mem::take(&mut e.failed_usernames),
                    failures: e.failures,
                    successes: e.successes,
                })
                .collect(),
            claims: std::mem::take(&mut self.claims),
        };
        self.in_flight = true;
        Some(batch)
    }

    /// Judges the fleet's answer to the exchange in flight (None: it failed).
    /// Findings whose claim this sidecar won, or all pending ones when the fleet
    /// could not be asked (reported twice rather than lost), go to `out`; new
    /// candidates wait for their claim in the next exchange.
    #[allow(clippy::too_many_arguments)]
    pub fn answer(
        &mut self,
        counts: Option<TallyCounts>,
        cfg: &DetectorsConfig,
        clients: &mut Clients,
        now_ms: u64,
        window_ms: u64,
        rng: &mut Rng,
        out: &mut Vec<Finding>,
    ) {
        self.in_flight = false;
        let objects = std::mem::take(&mut self.sent_objects);
        let logins = std::mem::take(&mut self.sent_logins);
        let Some(counts) = counts else {
            out.extend(self.pending.drain().map(|(_, f)| f));
            return;
        };
        for key in &counts.won {
            if let Some(f) = self.pending.remove(key) {
                out.push(f);
            }
        }
        // Claims not won were reported by another sidecar.
        self.pending.clear();
        let mut found = Vec::new();
        let mut ctx = Ctx {
            now_ms,
            window_ms,
            out: &mut found,
            rng,
        };
        let cooldown = cooldown_s(&ctx);
        for (e, c) in objects.iter().zip(&counts.objects) {
            let before = ctx.out.len();
            bola(cfg, &mut ctx, clients, e, c);
            if ctx.out.len() > before {
                let key = format!("bola:{}:{}", e.principal, e.endpoint);
                self.claim(key, cooldown, ctx.out.pop());
            }
        }
        for ((ip, e), c) in logins.iter().zip(&counts.logins) {
            let before = ctx.out.len();
            stuffing(cfg, &mut ctx, clients, *ip, e, c);
            if ctx.out.len() > before {
                let key = format!("stuffing:{ip}:{}", e.endpoint);
                self.claim(key, cooldown, ctx.out.pop());
            }
        }
    }

    fn claim(&mut self, key: String, cooldown_s: u32, finding: Option<Finding>) {
        let Some(mut f) = finding else {
            return;
        };
        if self.pending.len() >= MAX_PENDING {
            self.dropped += 1;
            return;
        }
        f.instance = Some(self.instance.clone());
        self.claims.push(Claim {
            key: key.clone(),
            ttl_ms: u64::from(cooldown_s.max(1)) * 1000,
        });
        self.pending.insert(key, f);
    }
}

/// The principal's state, for the cooldown shared with the local detector.
fn client_ref(who: &FindingClient) -> Option<ClientRef<'_>> {
    who.subject
        .as_deref()
        .map(ClientRef::Subject)
        .or_else(|| who.api_key_id.as_deref().map(ClientRef::ApiKey))
        .or_else(|| who.ip.map(ClientRef::Ip))
}

fn bola(
    cfg: &DetectorsConfig,
    ctx: &mut Ctx<'_>,
    clients: &mut Clients,
    e: &ObjectEntry,
    c: &ObjectCounts,
) {
    let cfg = &cfg.bola_enumeration;
    if !cfg.enabled {
        return;
    }
    // The fleet's distinct ids over the span this sidecar saw: a walk spread
    // round-robin leaves each sidecar every n-th id of a span the whole fleet
    // fills.
    let density = e.span.map_or(0.0, |(lo, hi)| {
        let range = hi.saturating_sub(lo).saturating_add(1).max(1);
        f64::from(c.ids) / range as f64
    });
    let denied = c.denied >= cfg.denied_ids;
    let walk = e.ownership != Ownership::Shared && c.ids >= cfg.walk_ids && density >= 0.5;
    let foreign = e.ownership == Ownership::Owned && c.foreign >= cfg.foreign_ids;
    if !(denied || walk || foreign) {
        return;
    }
    let Some(state) = client_ref(&e.who).and_then(|r| clients.get_mut(r)) else {
        return;
    };
    if !state.should_report(Reported::Bola, (ctx.now_ms / 1000) as u32, cooldown_s(ctx)) {
        return;
    }
    let mut why = Vec::new();
    for (on, name) in [(denied, "denied"), (walk, "walk"), (foreign, "foreign")] {
        if on {
            why.push(name);
        }
    }
    let strongest = [
        (c.denied, cfg.denied_ids),
        (c.ids, cfg.walk_ids),
        (c.foreign, cfg.foreign_ids),
    ]
    .into_iter()
    .map(|(o, t)| f64::from(o) / f64::from(t.max(1)))
    .fold(0.0, f64::max);
    let endpoint = &e.endpoint;
    ctx.report(Report {
        kind: FindingKind::BolaEnumeration,
        severity: Severity::High,
        confidence: confidence(0.55 + 0.15 * why.len() as f32, strongest, 1.0),
        client: e.who.clone(),
        endpoint: Some(endpoint.clone()),
        window_start_ms: ctx.client_window_start(),
        summary: format!(
            "across the fleet, {} distinct objects of {endpoint}: {} refused, {} owned by others ({})",
            c.ids,
            c.denied,
            c.foreign,
            why.join(", ")
        ),
        evidence: evidence![
            "scope" => "fleet",
            "signals" => why,
            "fleet_distinct_ids" => c.ids,
            "fleet_denied_ids" => c.denied,
            "fleet_foreign_ids" => c.foreign,
            "fleet_density" => round(density),
            "ownership" => format!("{:?}", e.ownership).to_lowercase(),
            "thresholds" => serde_json::json!({
                "denied_ids": cfg.denied_ids,
                "walk_ids": cfg.walk_ids,
                "foreign_ids": cfg.foreign_ids,
            }),
        ],
    });
}

fn stuffing(
    cfg: &DetectorsConfig,
    ctx: &mut Ctx<'_>,
    clients: &mut Clients,
    ip: IpAddr,
    e: &LoginEntry,
    c: &LoginCounts,
) {
    let cfg = &cfg.credential_stuffing;
    if !cfg.enabled || c.failures == 0 {
        return;
    }
    let share = f64::from(c.successes) / f64::from(c.failures.saturating_add(c.successes));
    if c.failed_usernames < cfg.usernames_per_client || share > cfg.max_success_share {
        return;
    }
    let Some(state) = clients.get_mut(ClientRef::Ip(ip)) else {
        return;
    };
    if !state.should_report(
        Reported::Stuffing,
        (ctx.now_ms / 1000) as u32,
        cooldown_s(ctx),
    ) {
        return;
    }
    ctx.report(Report {
        kind: FindingKind::CredentialStuffing,
        severity: Severity::High,
        confidence: confidence(
            0.7,
            f64::from(c.failed_usernames),
            f64::from(cfg.usernames_per_client),
        ),
        client: FindingClient {
            ip: Some(ip),
            ..FindingClient::default()
        },
        endpoint: Some(e.endpoint.clone()),
        window_start_ms: ctx.client_window_start(),
        summary: format!(
            "across the fleet, {ip} failed logins on {} usernames ({} failures)",
            c.failed_usernames, c.failures
        ),
        evidence: evidence![
            "scope" => "fleet",
            "endpoint" => e.endpoint.as_ref(),
            "fleet_failed_logins" => c.failures,
            "fleet_successful_logins" => c.successes,
            "fleet_distinct_usernames" => c.failed_usernames,
            "threshold" => cfg.usernames_per_client,
        ],
    });
}

#[cfg(test)]
mod tests;
