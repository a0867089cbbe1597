//! Owns the per-event pipeline of the analytics worker: template the path, update
//! the endpoint and the client state, run the detectors, and turn findings into
//! blocks by the decision policy. Time is the events' own time, so a replay or a
//! simulation decides exactly as live traffic would.
//!
//! Must stay O(1) per event and must not do I/O: the worker persists and publishes
//! what `process` returns.

use std::sync::Arc;

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

use palisade_models::config::DetectorsConfig;
use palisade_models::{Block, Config, DenyCode, EndpointInfo, Finding, NewBlock, RequestEvent};

use crate::batch::{BatchLink, BatchReader};
use crate::client::{ClientRef, Clients};
use crate::decide::Decider;
use crate::detectors::bola_enumeration::Ownership;
use crate::detectors::brute_force::Usernames;
use crate::detectors::credential_stuffing::{Attempt, Campaigns};
use crate::detectors::probing::Sensitive;
use crate::detectors::{self as det, Ctx, Rng};
use crate::endpoint::{EndpointSnapshot, EndpointState};
use crate::fleet::{FleetTally, ObjectSeen};
use crate::sketch::{hash_str, username_bits};
use crate::template::{OVERFLOW, TemplateId, Templater};
use crate::trail::{Outcome, Trails};

mod parts;

use parts::{
    ClientVolume, Owners, count, is_object_method, login_attempt, method_name, principal, trigger,
};

/// What one call of `process` or `tick` produced.
#[derive(Debug, Default)]
pub struct Output {
    pub findings: Vec<Finding>,
    pub blocks: Vec<NewBlock>,
}

impl Output {
    pub fn is_empty(&self) -> bool {
        self.findings.is_empty() && self.blocks.is_empty()
    }
}

/// Counters of the engine itself.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EngineStats {
    pub events: u64,
    pub findings: u64,
    pub blocks: u64,
    /// Blocks not made because `decisions.max_blocks` were in force.
    pub blocks_withheld: u64,
    pub clients: usize,
    pub untracked_clients: u64,
    pub endpoints: usize,
}

/// Settings taken from the config once.
#[derive(Debug, Clone)]
struct Settings {
    window_ms: u64,
    bucket_ms: u64,
    idle_ms: u64,
    learning_ms: u64,
    max_endpoints: usize,
    routes_declared: bool,
    detectors: DetectorsConfig,
}

/// What is persisted between restarts.
#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    endpoints: Vec<EndpointSnapshot>,
    client_volume_p95: u32,
}

const SNAPSHOT_VERSION: u32 = 1;

/// The analytics engine.
#[derive(Debug)]
pub struct Engine {
    s: Settings,
    templater: Templater,
    index: HashMap<(Arc<str>, TemplateId), usize>,
    endpoints: Vec<EndpointState>,
    /// Endpoints known from a snapshot but not seen since the restart.
    pending: HashMap<(Box<str>, Box<str>), EndpointSnapshot>,
    clients: Clients,
    owners: Owners,
    trails: Trails,
    campaigns: Campaigns,
    usernames: Usernames,
    sensitive: Sensitive,
    volume: ClientVolume,
    decider: Decider,
    rng: Rng,
    first_ms: u64,
    now_ms: u64,
    stats: EngineStats,
    methods: HashMap<http::Method, Arc<str>>,
    /// The declared routes, to recognise paths the proxy did not route (a blocked
    /// client's requests are refused before routing).
    routes: matchit::Router<Arc<str>>,
    /// Batch hooks (issue 7): the newest batch baselines and model verdicts, and
    /// the endpoint of the last event processed (for the event window).
    batch: BatchLink,
    last_ep: Option<usize>,
    /// Fleet-wide detection (fleet mode only).
    fleet: Option<FleetTally>,
}

impl Engine {
    /// An engine for a validated config.
    pub fn new(config: &Config) -> Self {
        let a = &config.analytics;
        Self {
            s: Settings {
                window_ms: a.client_window.duration().as_millis() as u64,
                bucket_ms: a.endpoint_bucket.duration().as_millis() as u64,
                idle_ms: a.client_idle.duration().as_millis() as u64,
                learning_ms: a.learning_period.duration().as_millis() as u64,
                max_endpoints: a.max_endpoints,
                routes_declared: !config.route.is_empty(),
                detectors: a.detectors.clone(),
            },
            templater: Templater::new(a.max_segment_literals, a.max_endpoints),
            index: HashMap::new(),
            endpoints: Vec::new(),
            pending: HashMap::new(),
            clients: Clients::new(a.max_clients),
            owners: Owners::new(a.max_objects),
            trails: Trails::default(),
            campaigns: Campaigns::default(),
            usernames: Usernames::default(),
            sensitive: Sensitive::new(),
            volume: ClientVolume::new(),
            decider: Decider::new(&config.decisions),
            rng: Rng::new(),
            fleet: None,
            first_ms: 0,
            now_ms: 0,
            stats: EngineStats::default(),
            methods: HashMap::new(),
            routes: declared_routes(config),
            batch: BatchLink::default(),
            last_ep: None,
        }
    }

    /// Reads batch baselines and the client model's verdicts from `reader`.
    pub fn with_batch(mut self, reader: BatchReader) -> Self {
        self.batch = BatchLink::new(reader);
        self
    }

    /// The endpoint (`METHOD /template`) the last processed event went to.
    pub fn last_endpoint(&self) -> Option<&str> {
        self.last_ep.map(|i| &*self.endpoints[i].name)
    }

    pub fn stats(&self) -> EngineStats {
        EngineStats {
            clients: self.clients.len(),
            untracked_clients: self.clients.untracked,
            endpoints: self.endpoints.len(),
            blocks_withheld: self.decider.withheld(),
            ..self.stats
        }
    }

    /// The client table, for measurements.
    pub fn clients(&self) -> &Clients {
        &self.clients
    }

    /// Processes one event; findings and blocks go to `out`.
    pub fn process(&mut self, ev: &RequestEvent, out: &mut Output) {
        self.stats.events += 1;
        let now = ev.ts_unix_us / 1000;
        if self.first_ms == 0 {
            self.first_ms = now.max(1);
        }
        self.now_ms = self.now_ms.max(now);
        let first_finding = out.findings.len();
        let mut ctx = Ctx {
            now_ms: now,
            window_ms: self.s.window_ms,
            out: &mut out.findings,
            rng: &mut self.rng,
        };
        let d = &self.s.detectors;

        // Endpoint.
        let route = ev
            .route
            .clone()
            .or_else(|| self.routes.at(&ev.path).ok().map(|m| m.value.clone()));
        let declared = route.is_some();
        // A path the proxy refused as undeclared never reached the service: it is
        // no endpoint of it (probing sees it through the client's 404s).
        let refused_unknown = !declared
            && ev
                .deny
                .is_some_and(|d| d.code == palisade_models::DenyCode::UnknownRoute);
        let resolved = match &route {
            Some(route) => self.templater.declared(route, &ev.path),
            None if refused_unknown => crate::template::Resolved {
                template: OVERFLOW,
                object: None,
            },
            None => self.templater.resolve(&ev.path),
        };
        for merged in self.templater.take_merged() {
            drop_endpoints(&mut self.index, merged);
        }
        let template = resolved.template;
        let method = method_name(&mut self.methods, &ev.method);
        let ep = if refused_unknown {
            None
        } else {
            endpoint_index(
                &mut self.index,
                &mut self.endpoints,
                &mut self.pending,
                &self.templater,
                &self.s,
                (method, template),
                declared,
                now,
            )
        };
        self.last_ep = ep;
        let principal = principal(ev);
        let primary = principal.unwrap_or(ClientRef::Ip(ev.client_ip));
        let primary_hash = primary.hash64();
        let learning = now < self.first_ms + self.s.learning_ms;
        if let Some(i) = ep {
            let e = &mut self.endpoints[i];
            if let Some(b) = e.advance(now, self.s.bucket_ms) {
                let warm = !learning && e.base.requests.n >= 30;
                let hour = self.batch.hour(&e.name, b.start_ms);
                det::auth_failure_spike::endpoint(&d.auth_failure_spike, &mut ctx, e, &b, warm);
                det::volume_anomaly::check(&d.volume_anomaly, &mut ctx, e, &b, warm, hour);
                det::latency_anomaly::check(&d.latency_anomaly, &mut ctx, e, &b, warm, hour);
                det::error_burst::check(&d.error_burst, &mut ctx, e, &b);
            }
            e.record(ev, now, primary_hash);
            if template != OVERFLOW {
                det::new_endpoint::check(
                    &d.new_endpoint,
                    &mut ctx,
                    e,
                    self.s.routes_declared,
                    learning,
                );
            }
        }
        // Requests refused because the client is already blocked teach nothing new.
        let blocked = ev.deny.is_some_and(|x| x.code == DenyCode::Blocked);
        if !blocked {
            let endpoint_name = ep.map(|i| self.endpoints[i].name.clone());
            let endpoint_name = endpoint_name.as_deref().unwrap_or("");
            let login = login_attempt(ev, self.templater.template(template));
            let window = self.s.window_ms;
            let idle = self.s.idle_ms;
            // A path the service declared and answered is its own, whatever its name
            // (a health check of a declared /actuator/health is no probe).
            let sensitive = (!declared || ev.status >= 400) && self.sensitive.matches(&ev.path);

            // The address.
            let ip = ev.client_ip;
            let ip_slot = self.clients.entry(ClientRef::Ip(ip), now, window, idle);
            if let Some(slot) = ip_slot {
                let c = self.clients.at_mut(slot);
                if let Some(closed) = c.advance(now, window)
                    && principal.is_none()
                {
                    self.volume.record(closed, now, window);
                }
                c.touch(now);
                count(c, ev, login);
                if sensitive {
                    c.sensitive_paths.cur.insert(hash_str(&ev.path));
                }
                if let Some((_, Some(u))) = login.filter(|(failed, _)| *failed) {
                    c.failed_usernames.cur.insert(username_bits(u));
                }
                if ev.status == 404 {
                    c.missing_paths.cur.insert(hash_str(&ev.path));
                }
                c.shape = ev.user_agent.as_deref().map_or(0, |ua| hash_str(ua) as u32);
                det::auth_failure_spike::client(&d.auth_failure_spike, &mut ctx, ip, c);
                det::probing::check(&d.probing, &mut ctx, ip, c);
            }

            // The principal, when there is one.
            let principal_slot = principal.and_then(|p| self.clients.entry(p, now, window, idle));
            if let Some(slot) = principal_slot {
                let c = self.clients.at_mut(slot);
                if let Some(closed) = c.advance(now, window) {
                    self.volume.record(closed, now, window);
                }
                c.touch(now);
                count(c, ev, login);
            }

            // Detectors on the primary key (the principal, else the address).
            let who = det::Who {
                ip,
                subject: ev.subject.as_deref(),
                api_key_id: ev.api_key_id.as_deref(),
            };
            let p95 = self.volume.p95;
            // `ip_slot` is not used once the principal's entry is made: making it can
            // compact the table, which moves states.
            let primary_slot = if principal.is_some() {
                principal_slot
            } else {
                ip_slot
            };
            if let Some(slot) = primary_slot {
                let c = self.clients.at_mut(slot);
                det::signature::check(&d.signature, &mut ctx, c, who, ev);
                det::mass_assignment::check(
                    &d.mass_assignment,
                    &mut ctx,
                    c,
                    who,
                    ev,
                    endpoint_name,
                );
                det::scraping::volume(&d.scraping, &mut ctx, c, who, p95);
                if let (Some(obj), Some(i)) = (resolved.object, ep)
                    && is_object_method(&ev.method)
                {
                    let e = &mut self.endpoints[i];
                    let id_hash = hash_str(obj);
                    let mut foreign = false;
                    if principal.is_some() && (200..300).contains(&ev.status) {
                        let owner = self
                            .owners
                            .owner_or_claim((template, id_hash), primary_hash);
                        foreign = owner != primary_hash;
                        e.count_read(!foreign);
                    }
                    let bola = &d.bola_enumeration;
                    let ownership = if e.owned(bola.owned_min_reads, bola.owned_share) {
                        Ownership::Owned
                    } else if e.base.own_reads + e.base.foreign_reads
                        >= u64::from(bola.owned_min_reads)
                    {
                        Ownership::Shared
                    } else {
                        Ownership::Unknown
                    };
                    let slot = c.slot(template, (now / 1000) as u32);
                    slot.record(id_hash, obj.parse::<i64>().ok());
                    if matches!(ev.status, 403 | 404) {
                        slot.denied.cur.insert(id_hash);
                    }
                    if foreign {
                        slot.foreign.cur.insert(id_hash);
                    }
                    if let Some(t) = &mut self.fleet {
                        t.object(&ObjectSeen {
                            principal: primary,
                            who,
                            endpoint: endpoint_name,
                            template,
                            id: obj,
                            denied: matches!(ev.status, 403 | 404),
                            foreign,
                            ownership,
                        });
                    }
                    let slot = *slot;
                    let outcome = match ev.status {
                        403 | 404 => Outcome::Denied,
                        200..=299 if principal.is_some() && foreign => Outcome::Foreign,
                        200..=299 if principal.is_some() => Outcome::Owned,
                        _ => Outcome::Other,
                    };
                    self.trails
                        .record(primary_hash, template, obj, now, ev.status, outcome);
                    let before = ctx.out.len();
                    det::bola_enumeration::check(
                        bola,
                        &mut ctx,
                        c,
                        &slot,
                        who,
                        endpoint_name,
                        ownership,
                    );
                    if ctx.out.len() > before
                        && let Some(f) = ctx.out.last_mut()
                    {
                        f.evidence.insert(
                            "sequence".into(),
                            self.trails.sequence(primary_hash, template).into(),
                        );
                    }
                    det::scraping::objects(
                        &d.scraping,
                        &mut ctx,
                        c,
                        &slot,
                        who,
                        endpoint_name,
                        ownership,
                    );
                }
            }

            // Logins, over addresses and usernames.
            if let Some((failed, username)) = login {
                if let Some(t) = &mut self.fleet {
                    t.login(
                        ip,
                        endpoint_name,
                        template,
                        failed,
                        username.map(username_bits),
                    );
                }
                let attempt = Attempt {
                    ip,
                    shape: ev.user_agent.as_deref().map_or(0, |ua| hash_str(ua) as u32),
                    failed,
                    username,
                };
                det::credential_stuffing::check(
                    &d.credential_stuffing,
                    &mut ctx,
                    &mut self.clients,
                    &mut self.campaigns,
                    &attempt,
                    endpoint_name,
                );
                det::brute_force::check(
                    &d.brute_force,
                    &mut ctx,
                    &mut self.clients,
                    &mut self.usernames,
                    &attempt,
                    endpoint_name,
                );
            }
        }
        for f in &mut out.findings[first_finding..] {
            f.request.get_or_insert_with(|| trigger(ev));
            if let Some(t) = &self.fleet {
                f.instance = Some(t.instance().into());
            }
            self.stats.findings += 1;
            if let Some(b) = self.decider.decide(f, now) {
                self.stats.blocks += 1;
                out.blocks.push(b);
            }
        }
    }

    /// Shares counters with the other sidecars of the fleet as `instance`:
    /// `fleet_take` and `fleet_answer` then carry them.
    pub fn with_fleet(mut self, instance: &str) -> Self {
        self.fleet = Some(FleetTally::new(instance));
        self
    }

    /// What to send to the fleet now (None: nothing, or an exchange in flight).
    pub fn fleet_take(&mut self) -> Option<palisade_models::tally::TallyBatch> {
        self.fleet.as_mut().and_then(FleetTally::take)
    }

    /// Observations the fleet tally had no room for since start.
    pub fn fleet_dropped(&self) -> u64 {
        self.fleet.as_ref().map_or(0, |t| t.dropped)
    }

    /// The fleet's answer to the last `fleet_take` (None: the exchange failed):
    /// findings it reveals, and the blocks they decide, go to `out`.
    pub fn fleet_answer(
        &mut self,
        counts: Option<palisade_models::tally::TallyCounts>,
        now_ms: u64,
        out: &mut Output,
    ) {
        let Some(t) = &mut self.fleet else {
            return;
        };
        let first = out.findings.len();
        t.answer(
            counts,
            &self.s.detectors,
            &mut self.clients,
            now_ms,
            self.s.window_ms,
            &mut self.rng,
            &mut out.findings,
        );
        for f in &out.findings[first..] {
            self.stats.findings += 1;
            if let Some(b) = self.decider.decide(f, now_ms) {
                self.stats.blocks += 1;
                out.blocks.push(b);
            }
        }
    }

    /// Housekeeping on a timer: forgets idle clients and ended blocks.
    pub fn tick(&mut self, now_ms: u64) -> usize {
        self.decider.sweep(now_ms);
        self.clients.evict_idle(now_ms, self.s.idle_ms)
    }

    /// On the worker's timer: reports the clients a new batch run found unusual
    /// (`unusual_client`), each at most once per cooldown, and decides on them.
    pub fn batch_tick(&mut self, now_ms: u64, out: &mut Output) {
        let cfg = &self.s.detectors.unusual_client;
        let cooldown = cfg.cooldown.duration().as_millis() as u64;
        let (unusual, window_start_ms) = self.batch.new_unusual(now_ms, cooldown);
        let first = out.findings.len();
        let mut ctx = Ctx {
            now_ms,
            window_ms: self.s.window_ms,
            out: &mut out.findings,
            rng: &mut self.rng,
        };
        for u in &unusual {
            det::unusual_client::check(cfg, &mut ctx, u, window_start_ms);
        }
        for f in &mut out.findings[first..] {
            self.stats.findings += 1;
            if let Some(b) = self.decider.decide(f, now_ms) {
                self.stats.blocks += 1;
                out.blocks.push(b);
            }
        }
    }

    /// Forgets that a scope is blocked (lifted by an operator).
    pub fn lifted(&mut self, scope: &palisade_models::BlockScope) {
        self.decider.lifted(scope);
    }

    /// The endpoint inventory: every endpoint seen, and those known from before a
    /// restart and not seen since.
    pub fn inventory(&self) -> Vec<EndpointInfo> {
        let mut v: Vec<EndpointInfo> = self
            .endpoints
            .iter()
            .filter(|e| e.template != OVERFLOW || e.info.requests > 0)
            .map(|e| e.info.clone())
            .chain(self.pending.values().map(|s| s.info.clone()))
            .collect();
        v.sort_by(|a, b| (&a.template, &a.method).cmp(&(&b.template, &b.method)));
        v
    }

    /// Baselines, as bytes to persist.
    pub fn snapshot(&self) -> Vec<u8> {
        let snap = Snapshot {
            version: SNAPSHOT_VERSION,
            endpoints: self
                .endpoints
                .iter()
                .map(EndpointState::snapshot)
                .chain(self.pending.values().cloned())
                .collect(),
            client_volume_p95: self.volume.p95,
        };
        serde_json::to_vec(&snap).unwrap_or_default()
    }

    /// Warm-starts from a snapshot and the blocks in the store. A snapshot that
    /// does not parse is ignored (baselines start cold) and reported as an error.
    pub fn restore(
        &mut self,
        snapshot: Option<&[u8]>,
        blocks: &[Block],
        now_ms: u64,
    ) -> Result<usize, String> {
        self.decider.seed(blocks, now_ms);
        let Some(bytes) = snapshot else { return Ok(0) };
        let snap: Snapshot = serde_json::from_slice(bytes).map_err(|e| {
            format!("the baseline snapshot does not parse ({e}); baselines start cold")
        })?;
        if snap.version != SNAPSHOT_VERSION {
            return Err(format!(
                "the baseline snapshot has version {}, this build reads {SNAPSHOT_VERSION}; baselines start cold",
                snap.version
            ));
        }
        self.volume.p95 = snap.client_volume_p95;
        let n = snap.endpoints.len();
        for e in snap.endpoints {
            self.pending
                .insert((e.info.method.clone(), e.info.template.clone()), e);
        }
        Ok(n)
    }
}

fn declared_routes(config: &Config) -> matchit::Router<Arc<str>> {
    let mut router = matchit::Router::new();
    for r in &config.route {
        // Validation already checked that every path inserts; a duplicate path with
        // other methods is the same template.
        let _ = router.insert(r.path.clone(), Arc::from(r.path.as_str()));
    }
    router
}

#[allow(clippy::too_many_arguments)]
fn endpoint_index(
    index: &mut HashMap<(Arc<str>, TemplateId), usize>,
    endpoints: &mut Vec<EndpointState>,
    pending: &mut HashMap<(Box<str>, Box<str>), EndpointSnapshot>,
    templater: &Templater,
    s: &Settings,
    key: (Arc<str>, TemplateId),
    declared: bool,
    now: u64,
) -> Option<usize> {
    if let Some(&i) = index.get(&key) {
        return Some(i);
    }
    if endpoints.len() >= s.max_endpoints {
        return None;
    }
    let text = templater.template(key.1);
    let mut e = EndpointState::new(&key.0, key.1, text, declared, now);
    if let Some(snap) = pending.remove(&(Box::from(&*key.0), Box::from(&**text))) {
        e.restore(&snap);
    }
    endpoints.push(e);
    let i = endpoints.len() - 1;
    index.insert(key, i);
    Some(i)
}

/// Unlinks the endpoints of a template that was folded into a parameter; their
/// state stays in the vector (indexes are stable) but gets no more traffic and
/// leaves the inventory.
fn drop_endpoints(index: &mut HashMap<(Arc<str>, TemplateId), usize>, template: TemplateId) {
    index.retain(|(_, t), _| *t != template);
}

#[cfg(test)]
mod bounds;
#[cfg(test)]
mod tests;
