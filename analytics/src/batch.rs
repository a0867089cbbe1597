//! Owns what the batch jobs (crate `palisade-batch`) hand back to the streaming
//! side: robust baselines per endpoint and per client recomputed over the event
//! window, and the client-behaviour model's unusual clients. They arrive as one
//! immutable `BatchView` swapped in whole (`BatchReader`, an arc-swap), so a
//! detector reads the newest one with an atomic load and never waits for a batch
//! run, and a batch run never waits for the worker.
//!
//! Must not compute anything over the window itself (that is the batch crate's
//! job, off the worker thread), and must not hold a secret.

use std::sync::Arc;

use arc_swap::ArcSwap;
use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

use palisade_models::ClientName;

/// Robust summary of one quantity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Robust {
    pub median: f64,
    /// Median absolute deviation from the median (raw, not scaled to σ).
    pub mad: f64,
    pub p95: f64,
    pub p99: f64,
}

impl Robust {
    /// `median + k·σ`, with σ estimated as 1.4826·MAD (σ of a normal
    /// distribution); a MAD of zero counts as one unit, so a constant history
    /// does not make every wiggle an outlier.
    pub fn upper(&self, k: f64) -> f64 {
        self.median + k * 1.4826 * self.mad.max(1.0)
    }
}

/// One hour of the day (UTC) of an endpoint's baseline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct HourBaseline {
    /// 0 to 23, UTC.
    pub hour: u8,
    /// Complete buckets of that hour seen in the window.
    pub buckets: u32,
    /// Requests per bucket (`analytics.endpoint_bucket`).
    pub rate: Robust,
    /// Latency of single requests, µs.
    pub latency_us: Robust,
}

/// One endpoint's baseline over the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EndpointBaseline {
    pub requests: u64,
    /// Buckets with at least one request.
    pub buckets: u32,
    /// Requests per bucket (`analytics.endpoint_bucket`).
    pub rate: Robust,
    /// Latency of single requests, µs.
    pub latency_us: Robust,
    /// Share of requests answered 4xx or 5xx.
    pub failure_ratio: f64,
    /// Share answered 401 or 403.
    pub auth_failure_ratio: f64,
    /// Share answered 5xx.
    pub server_error_ratio: f64,
    /// By hour of day, for the hours the window covers.
    pub by_hour: Vec<HourBaseline>,
}

impl EndpointBaseline {
    /// The hour-of-day baseline for `hour` when it has at least `min_buckets`.
    pub fn hour(&self, hour: u8, min_buckets: u32) -> Option<&HourBaseline> {
        self.by_hour
            .iter()
            .find(|h| h.hour == hour && h.buckets >= min_buckets)
    }
}

/// One client's baseline over the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientBaseline {
    pub requests: u64,
    /// Requests per client window (`analytics.client_window`) in which it was active.
    pub rate: Robust,
    pub latency_us: Robust,
    pub failure_ratio: f64,
    pub auth_failure_ratio: f64,
}

/// One feature of a client that made the model judge it unusual.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDeviation {
    /// The feature's name (`rate_per_min`, `distinct_endpoints`, ...).
    pub name: Box<str>,
    /// The client's value.
    pub value: f64,
    /// What its nearest cluster's centre has.
    pub typical: f64,
    /// Share of the client's squared (standardised) distance from that centre
    /// this feature accounts for.
    pub share: f64,
}

/// A client the model judged unusual.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnusualClient {
    pub client: ClientName,
    /// Distance to the nearest centre over the distance below which 99% of that
    /// cluster's members fall: above 1 is farther out than nearly all of them.
    pub score: f64,
    pub cluster: usize,
    pub requests: u64,
    /// The features that made it unusual, largest share first.
    pub features: Vec<FeatureDeviation>,
}

/// What one batch run produced.
#[derive(Debug, Clone, Default)]
pub struct BatchView {
    /// Increases with every run; 0 is "no run yet".
    pub generation: u64,
    /// When the run finished, ms since the epoch.
    pub computed_ms: u64,
    /// Events the run looked at, and the time they span (µs).
    pub events: u64,
    pub span_us: (u64, u64),
    /// By endpoint name (`METHOD /template`).
    pub endpoints: HashMap<Box<str>, EndpointBaseline>,
    pub clients: HashMap<ClientName, ClientBaseline>,
    /// Clients the model scored above the `unusual_client` threshold, most
    /// unusual first; empty when the model is off or not fitted yet.
    pub unusual: Vec<UnusualClient>,
}

/// Where the streaming side reads the newest `BatchView`; the batch runner is its
/// only writer.
pub type BatchReader = Arc<ArcSwap<BatchView>>;

/// A new, empty reader.
pub fn batch_reader() -> BatchReader {
    Arc::new(ArcSwap::from_pointee(BatchView::default()))
}

/// An hour of the day needs this many complete buckets in the window before a
/// detector takes its baseline into account (5 minutes of the default 10 s buckets).
pub const MIN_HOUR_BUCKETS: u32 = 30;

/// The engine's side of the link: the newest view, and which unusual clients it
/// has reported when (to hold each to the detector's cooldown).
#[derive(Debug, Default)]
pub struct BatchLink {
    reader: Option<BatchReader>,
    seen_generation: u64,
    /// Last report per client, ms; entries older than the cooldown are dropped on
    /// every new generation, so this holds at most the clients of one cooldown.
    reported: HashMap<ClientName, u64>,
}

impl BatchLink {
    pub fn new(reader: BatchReader) -> Self {
        Self {
            reader: Some(reader),
            ..Self::default()
        }
    }

    /// The hour-of-day baseline of endpoint `name` for the hour `at_ms` falls in,
    /// when the newest batch run has one with enough buckets. An atomic load and a
    /// hash lookup: called when a bucket closes, not per event.
    pub fn hour(&self, name: &str, at_ms: u64) -> Option<HourBaseline> {
        let view = self.reader.as_ref()?.load();
        let hour = ((at_ms / 3_600_000) % 24) as u8;
        view.endpoints
            .get(name)?
            .hour(hour, MIN_HOUR_BUCKETS)
            .copied()
    }

    /// Unusual clients of a batch run not seen before, not reported within
    /// `cooldown_ms`; each is marked reported at `now_ms`. Also returns where the
    /// run's events begin (ms).
    pub fn new_unusual(&mut self, now_ms: u64, cooldown_ms: u64) -> (Vec<UnusualClient>, u64) {
        let Some(reader) = &self.reader else {
            return (Vec::new(), 0);
        };
        let view = reader.load();
        if view.generation == self.seen_generation {
            return (Vec::new(), 0);
        }
        self.seen_generation = view.generation;
        self.reported
            .retain(|_, at| now_ms.saturating_sub(*at) < cooldown_ms);
        let mut out = Vec::new();
        for u in &view.unusual {
            if !self.reported.contains_key(&u.client) {
                self.reported.insert(u.client.clone(), now_ms);
                out.push(u.clone());
            }
        }
        (out, view.span_us.0 / 1000)
    }
}
