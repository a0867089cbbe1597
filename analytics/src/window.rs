//! Owns the event window: the most recent events, kept column by column in chunks,
//! bounded in bytes and in age, for the batch jobs (robust baselines, the client
//! model, Parquet segments and export; crate `palisade-batch`).
//!
//! The worker pushes every event it drains: appends to column vectors and, for the
//! low-cardinality strings (user agent, host, principal, route...), one lookup in
//! the chunk's own dictionary, so a push is O(1) amortised and allocates only for a
//! value the chunk has not seen. A chunk is sealed when full or on the worker's
//! tick once it is `SEAL_AFTER_MS` old, and then never changes: readers share it
//! (`Arc`) through an arc-swap of the chunk list, so a batch job never makes the
//! worker wait and the worker never copies the window for it.
//!
//! Must not hold a secret: only what `RequestEvent` carries, and of that not the
//! username hash, the token id or the scopes. Must not do I/O.

use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use hashbrown::HashMap;

use palisade_models::{Denial, LoginOutcome, Protocol, RequestEvent};

/// Events per chunk at most: large enough that per-chunk costs (dictionaries, one
/// Parquet row group each) are amortised, small enough that eviction frees memory
/// in steps of a few MiB.
pub const CHUNK_EVENTS: usize = 16_384;
/// An open chunk first seen by a tick at least this long ago is sealed, so readers
/// see events within seconds (this plus one tick) even at low traffic.
pub const SEAL_AFTER_MS: u64 = 2_000;
/// Dictionary code of an absent value.
pub const NULL: u32 = u32::MAX;

/// Column of strings that rarely differ between events, coded per chunk.
#[derive(Debug, Default, Clone)]
pub struct Dict {
    /// Per event: index into `values`, or `NULL`.
    pub codes: Vec<u32>,
    pub values: Vec<Box<str>>,
    /// Sum of the values' lengths.
    value_bytes: usize,
}

/// Column of strings that mostly differ (paths, request ids): one buffer and the
/// end offset of each value, as Arrow lays them out.
#[derive(Debug, Default, Clone)]
pub struct Strs {
    pub data: String,
    pub ends: Vec<u32>,
}

impl Strs {
    fn push(&mut self, s: &str) {
        self.data.push_str(s);
        self.ends.push(self.data.len() as u32);
    }

    /// The `i`th value.
    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.data[start..self.ends[i] as usize]
    }

    fn shrink(&mut self) {
        self.data.shrink_to_fit();
        self.ends.shrink_to_fit();
    }
}

impl Dict {
    /// Heap bytes of the values (the codes are counted per event).
    fn bytes(&self) -> usize {
        self.value_bytes + self.values.len() * size_of::<Box<str>>()
    }

    /// The value of event `i`.
    pub fn get(&self, i: usize) -> Option<&str> {
        match self.codes[i] {
            NULL => None,
            c => Some(&self.values[c as usize]),
        }
    }
}

/// Builds a `Dict` while its chunk is open.
#[derive(Debug, Default)]
struct DictBuilder {
    dict: Dict,
    index: HashMap<Box<str>, u32, foldhash::fast::RandomState>,
}

impl DictBuilder {
    fn push(&mut self, v: Option<&str>) {
        let code = match v {
            None => NULL,
            Some(s) => match self.index.get(s) {
                Some(&c) => c,
                None => {
                    let c = self.dict.values.len() as u32;
                    self.dict.values.push(s.into());
                    self.index.insert(s.into(), c);
                    self.dict.value_bytes += s.len();
                    c
                }
            },
        };
        self.dict.codes.push(code);
    }

    /// Heap bytes while open: each value is held twice (list and index), and
    /// the index has about 32 bytes of slots and control bytes per entry.
    fn bytes(&self) -> usize {
        2 * self.dict.bytes() + self.index.capacity() * 32
    }

    fn finish(mut self) -> Dict {
        self.dict.codes.shrink_to_fit();
        self.dict.values.shrink_to_fit();
        self.dict
    }
}

/// One sealed chunk of events, column by column; row `i` of every column is the
/// same event.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// Sealed chunks are numbered from 1 in the order they were sealed.
    pub seq: u64,
    pub ts_us: Vec<u64>,
    pub request_id: Strs,
    pub client_ip: Vec<IpAddr>,
    pub peer_ip: Vec<IpAddr>,
    pub subject: Dict,
    pub api_key_id: Dict,
    pub method: Dict,
    pub host: Dict,
    pub path: Strs,
    pub query_keys: Dict,
    pub route: Dict,
    /// The analytics endpoint (`METHOD /template`), when the engine placed one.
    pub endpoint: Dict,
    /// True when the endpoint's template has a parameter (`{id}`): its paths name
    /// objects.
    pub templated: Vec<bool>,
    pub status: Vec<u16>,
    pub deny: Vec<Option<Denial>>,
    pub latency_us: Vec<u64>,
    pub upstream_latency_us: Vec<Option<u64>>,
    pub bytes_in: Vec<u64>,
    pub bytes_out: Vec<u64>,
    pub user_agent: Dict,
    pub protocol: Vec<Protocol>,
    pub tls: Vec<bool>,
    pub login: Vec<Option<LoginOutcome>>,
    pub signature_score: Vec<Option<u32>>,
    /// Matched rule ids, space-separated.
    pub signature_rules: Dict,
    bytes: usize,
}

impl Chunk {
    pub fn len(&self) -> usize {
        self.ts_us.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts_us.is_empty()
    }

    /// Heap bytes held, about: what the window's memory bound counts.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Time of the first and the last event, µs since the epoch.
    pub fn span_us(&self) -> (u64, u64) {
        (
            self.ts_us.first().copied().unwrap_or(0),
            self.ts_us.last().copied().unwrap_or(0),
        )
    }
}

/// Bytes per event of the fixed-width columns (Vec element sizes).
const FIXED_BYTES: usize = 8 // ts
    + 2 * size_of::<IpAddr>()
    + 9 * 4 // dictionary codes
    + 2 * 4 // string ends
    + 1 // templated
    + 2 // status
    + size_of::<Option<Denial>>()
    + 8 // latency
    + size_of::<Option<u64>>()
    + 16 // bytes in, out
    + size_of::<Protocol>()
    + 1 // tls
    + size_of::<Option<LoginOutcome>>()
    + size_of::<Option<u32>>();

/// The open chunk.
#[derive(Debug, Default)]
struct Builder {
    /// When a tick first saw this chunk holding events (the push path reads no
    /// clock).
    first_tick_ms: Option<u64>,
    ts_us: Vec<u64>,
    request_id: Strs,
    client_ip: Vec<IpAddr>,
    peer_ip: Vec<IpAddr>,
    subject: DictBuilder,
    api_key_id: DictBuilder,
    method: DictBuilder,
    host: DictBuilder,
    path: Strs,
    query_keys: DictBuilder,
    route: DictBuilder,
    endpoint: DictBuilder,
    templated: Vec<bool>,
    status: Vec<u16>,
    deny: Vec<Option<Denial>>,
    latency_us: Vec<u64>,
    upstream_latency_us: Vec<Option<u64>>,
    bytes_in: Vec<u64>,
    bytes_out: Vec<u64>,
    user_agent: DictBuilder,
    protocol: Vec<Protocol>,
    tls: Vec<bool>,
    login: Vec<Option<LoginOutcome>>,
    signature_score: Vec<Option<u32>>,
    signature_rules: DictBuilder,
    /// Rule ids joined, reused between events.
    rules_buf: String,
}

impl Builder {
    fn len(&self) -> usize {
        self.ts_us.len()
    }

    fn push(&mut self, ev: &RequestEvent, endpoint: Option<&str>) {
        self.ts_us.push(ev.ts_unix_us);
        self.request_id.push(&ev.request_id);
        self.client_ip.push(ev.client_ip);
        self.peer_ip.push(ev.peer_ip);
        self.subject.push(ev.subject.as_deref());
        self.api_key_id.push(ev.api_key_id.as_deref());
        self.method.push(Some(ev.method.as_str()));
        self.host.push(ev.host.as_deref());
        self.path.push(&ev.path);
        self.query_keys.push(ev.query_keys.as_deref());
        self.route.push(ev.route.as_deref());
        self.endpoint.push(endpoint);
        self.templated
            .push(endpoint.is_some_and(|e| e.contains('{')));
        self.status.push(ev.status);
        self.deny.push(ev.deny);
        self.latency_us.push(ev.latency_us);
        self.upstream_latency_us.push(ev.upstream_latency_us);
        self.bytes_in.push(ev.bytes_in);
        self.bytes_out.push(ev.bytes_out);
        self.user_agent.push(ev.user_agent.as_deref());
        self.protocol.push(ev.protocol);
        self.tls.push(ev.tls);
        self.login.push(ev.login.map(|l| l.outcome));
        self.signature_score
            .push(ev.signatures.as_ref().map(|s| s.score));
        match &ev.signatures {
            Some(s) => {
                self.rules_buf.clear();
                for (i, id) in s.rule_ids.iter().enumerate() {
                    if i > 0 {
                        self.rules_buf.push(' ');
                    }
                    self.rules_buf.push_str(id);
                }
                let rules = std::mem::take(&mut self.rules_buf);
                self.signature_rules.push(Some(&rules));
                self.rules_buf = rules;
            }
            None => self.signature_rules.push(None),
        }
    }

    /// Bytes held now, about.
    fn bytes(&self) -> usize {
        self.len() * FIXED_BYTES
            + self.request_id.data.len()
            + self.path.data.len()
            + [
                &self.subject,
                &self.api_key_id,
                &self.method,
                &self.host,
                &self.query_keys,
                &self.route,
                &self.endpoint,
                &self.user_agent,
                &self.signature_rules,
            ]
            .iter()
            .map(|d| d.bytes())
            .sum::<usize>()
    }

    fn seal(self, seq: u64) -> Chunk {
        let mut c = Chunk {
            seq,
            ts_us: self.ts_us,
            request_id: self.request_id,
            client_ip: self.client_ip,
            peer_ip: self.peer_ip,
            subject: self.subject.finish(),
            api_key_id: self.api_key_id.finish(),
            method: self.method.finish(),
            host: self.host.finish(),
            path: self.path,
            query_keys: self.query_keys.finish(),
            route: self.route.finish(),
            endpoint: self.endpoint.finish(),
            templated: self.templated,
            status: self.status,
            deny: self.deny,
            latency_us: self.latency_us,
            upstream_latency_us: self.upstream_latency_us,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            user_agent: self.user_agent.finish(),
            protocol: self.protocol,
            tls: self.tls,
            login: self.login,
            signature_score: self.signature_score,
            signature_rules: self.signature_rules.finish(),
            bytes: 0,
        };
        c.ts_us.shrink_to_fit();
        c.request_id.shrink();
        c.client_ip.shrink_to_fit();
        c.peer_ip.shrink_to_fit();
        c.path.shrink();
        c.templated.shrink_to_fit();
        c.status.shrink_to_fit();
        c.deny.shrink_to_fit();
        c.latency_us.shrink_to_fit();
        c.upstream_latency_us.shrink_to_fit();
        c.bytes_in.shrink_to_fit();
        c.bytes_out.shrink_to_fit();
        c.protocol.shrink_to_fit();
        c.tls.shrink_to_fit();
        c.login.shrink_to_fit();
        c.signature_score.shrink_to_fit();
        c.bytes = c.len() * FIXED_BYTES
            + c.request_id.data.len()
            + c.path.data.len()
            + [
                &c.subject,
                &c.api_key_id,
                &c.method,
                &c.host,
                &c.query_keys,
                &c.route,
                &c.endpoint,
                &c.user_agent,
                &c.signature_rules,
            ]
            .iter()
            .map(|d| d.bytes())
            .sum::<usize>();
        c
    }
}

/// What readers see: the sealed chunks, oldest first.
#[derive(Debug, Default, Clone)]
pub struct WindowView {
    pub chunks: Vec<Arc<Chunk>>,
    /// Events the window has let go (evicted by size or age) since start.
    pub evicted_events: u64,
}

impl WindowView {
    pub fn events(&self) -> usize {
        self.chunks.iter().map(|c| c.len()).sum()
    }

    pub fn bytes(&self) -> usize {
        self.chunks.iter().map(|c| c.bytes()).sum()
    }
}

/// Where readers get the newest `WindowView`; the window is its only writer.
pub type WindowReader = Arc<ArcSwap<WindowView>>;

/// The bounds of the window.
#[derive(Debug, Clone, Copy)]
pub struct WindowLimits {
    /// Heap bytes the sealed and open chunks may hold together.
    pub max_bytes: usize,
    /// Events older than this (by their own time) leave the window.
    pub max_age_ms: u64,
}

/// The event window; owned by the analytics worker.
#[derive(Debug)]
pub struct Window {
    limits: WindowLimits,
    open: Builder,
    sealed: std::collections::VecDeque<Arc<Chunk>>,
    sealed_bytes: usize,
    next_seq: u64,
    evicted: u64,
    newest_ms: u64,
    reader: WindowReader,
}

impl Window {
    pub fn new(limits: WindowLimits) -> Self {
        Self {
            limits,
            open: Builder::default(),
            sealed: Default::default(),
            sealed_bytes: 0,
            next_seq: 1,
            evicted: 0,
            newest_ms: 0,
            reader: Arc::new(ArcSwap::from_pointee(WindowView::default())),
        }
    }

    /// Where readers get the sealed chunks.
    pub fn reader(&self) -> WindowReader {
        self.reader.clone()
    }

    /// Adds one event; `endpoint` is the engine's `METHOD /template` for it.
    pub fn push(&mut self, ev: &RequestEvent, endpoint: Option<&str>) {
        self.open.push(ev, endpoint);
        self.newest_ms = self.newest_ms.max(ev.ts_unix_us / 1000);
        if self.open.len() >= CHUNK_EVENTS {
            self.seal();
        }
    }

    /// On the worker's timer: seals an open chunk older than `SEAL_AFTER_MS`, lets
    /// go of chunks past the age bound.
    pub fn tick(&mut self, now_ms: u64) {
        let newest = self.newest_ms.max(now_ms);
        let mut changed = false;
        if self.open.len() > 0 {
            let first = *self.open.first_tick_ms.get_or_insert(now_ms);
            if now_ms.saturating_sub(first) >= SEAL_AFTER_MS {
                self.seal();
                changed = true;
            }
        }
        let cutoff_us = newest.saturating_sub(self.limits.max_age_ms) * 1000;
        while self
            .sealed
            .front()
            .is_some_and(|c| c.span_us().1 < cutoff_us)
        {
            self.pop_oldest();
            changed = true;
        }
        if changed {
            self.publish();
        }
    }

    /// Seals the open chunk now (what `tick` does when it is old enough).
    pub fn seal(&mut self) {
        if self.open.len() == 0 {
            return;
        }
        let chunk = std::mem::take(&mut self.open).seal(self.next_seq);
        self.next_seq += 1;
        self.sealed_bytes += chunk.bytes();
        self.sealed.push_back(Arc::new(chunk));
        while self.sealed.len() > 1 && self.sealed_bytes + self.open.bytes() > self.limits.max_bytes
        {
            self.pop_oldest();
        }
        self.publish();
    }

    /// Events held, sealed and open.
    pub fn len(&self) -> usize {
        self.sealed.iter().map(|c| c.len()).sum::<usize>() + self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes held, about.
    pub fn bytes(&self) -> usize {
        self.sealed_bytes + self.open.bytes()
    }

    fn pop_oldest(&mut self) {
        if let Some(c) = self.sealed.pop_front() {
            self.sealed_bytes -= c.bytes();
            self.evicted += c.len() as u64;
        }
    }

    fn publish(&self) {
        self.reader.store(Arc::new(WindowView {
            chunks: self.sealed.iter().cloned().collect(),
            evicted_events: self.evicted,
        }));
    }
}

#[cfg(test)]
mod tests;
