//! Owns the numbers of `/api/stats` and the overview page: requests and denials
//! per second (one point a second, the last five minutes), findings by kind (seeded
//! from the store at start, counted as they are stored), and the once-a-second
//! tick that the live feed carries.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use palisade_models::{Finding, FindingKind};
use palisade_store::{FindingFilter, PageRequest, Store};

use crate::state::{AdminState, Counters};

/// Points kept: five minutes at one a second.
pub const SERIES_LEN: usize = 300;

/// One point of the traffic chart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    pub at_ms: u64,
    pub requests_per_s: f64,
    pub denied_per_s: f64,
}

/// Keeps the series and the finding counts.
#[derive(Debug)]
pub struct StatsKeeper {
    started_ms: u64,
    series: Mutex<Series>,
    findings: [AtomicU64; FindingKind::ALL.len()],
}

#[derive(Debug, Default)]
struct Series {
    points: VecDeque<Point>,
    last: Option<(u64, u64, u64)>,
}

/// `GET /api/stats` and the feed's `stats` event.
#[derive(Debug, Serialize)]
pub struct StatsView {
    pub at_ms: u64,
    pub uptime_s: u64,
    pub requests_total: u64,
    pub requests_per_s: f64,
    pub denied_total: u64,
    pub denied_per_s: f64,
    pub denies: serde_json::Map<String, serde_json::Value>,
    pub tee: TeeView,
    pub connections_open: u64,
    pub findings_total: u64,
    pub findings_by_kind: serde_json::Map<String, serde_json::Value>,
    pub active_blocks: u64,
    pub clients_tracked: u64,
    pub endpoints: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<Vec<Point>>,
}

#[derive(Debug, Serialize)]
pub struct TeeView {
    pub capacity: u64,
    pub dropped: u64,
}

impl StatsKeeper {
    pub fn new(started_ms: u64) -> Self {
        Self {
            started_ms,
            series: Mutex::default(),
            findings: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Counts a stored finding.
    pub fn found(&self, f: &Finding) {
        self.count(f.kind, 1);
    }

    fn count(&self, kind: FindingKind, n: u64) {
        if let Some(c) = FindingKind::ALL
            .iter()
            .position(|k| *k == kind)
            .and_then(|i| self.findings.get(i))
        {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Adds the findings already in the store, page by page (at start, off the
    /// runtime's threads).
    pub fn seed(&self, store: &Store) -> Result<u64, palisade_store::StoreError> {
        let mut page = PageRequest {
            after: None,
            limit: palisade_store::MAX_PAGE,
        };
        let mut n = 0;
        loop {
            let p = store.findings(&FindingFilter::default(), page)?;
            for f in &p.items {
                self.count(f.kind, 1);
            }
            n += p.items.len() as u64;
            match p.next {
                Some(next) => page.after = Some(next),
                None => return Ok(n),
            }
        }
    }

    /// Adds a point from the counters at `now_ms`.
    pub fn sample(&self, c: &Counters, now_ms: u64) {
        let mut s = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, req, den)) = s.last
            && now_ms > at
        {
            let dt = (now_ms - at) as f64 / 1000.0;
            let point = Point {
                at_ms: now_ms,
                requests_per_s: c.requests_total.saturating_sub(req) as f64 / dt,
                denied_per_s: c.denied_total.saturating_sub(den) as f64 / dt,
            };
            if s.points.len() == SERIES_LEN {
                s.points.pop_front();
            }
            s.points.push_back(point);
        }
        s.last = Some((now_ms, c.requests_total, c.denied_total));
    }

    /// The numbers now; with the series for `/api/stats`, without for the tick.
    pub fn view(&self, state: &AdminState, c: &Counters, with_series: bool) -> StatsView {
        let now = state.clock.now_ms();
        let live = state.live.load();
        let s = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let last = s.points.back().copied();
        let findings_by_kind: serde_json::Map<_, _> = FindingKind::ALL
            .iter()
            .zip(&self.findings)
            .map(|(k, n)| (k.as_str().to_string(), n.load(Ordering::Relaxed).into()))
            .collect();
        StatsView {
            at_ms: now,
            uptime_s: now.saturating_sub(self.started_ms) / 1000,
            requests_total: c.requests_total,
            requests_per_s: last.map_or(0.0, |p| p.requests_per_s),
            denied_total: c.denied_total,
            denied_per_s: last.map_or(0.0, |p| p.denied_per_s),
            denies: c
                .denies
                .iter()
                .map(|(k, v)| (k.to_string(), (*v).into()))
                .collect(),
            tee: TeeView {
                capacity: c.tee_capacity,
                dropped: c.tee_dropped,
            },
            connections_open: c.connections_open,
            findings_total: self
                .findings
                .iter()
                .map(|n| n.load(Ordering::Relaxed))
                .sum(),
            findings_by_kind,
            active_blocks: state.control.active_blocks().len() as u64,
            clients_tracked: live.clients_tracked,
            endpoints: live.endpoints.len() as u64,
            series: with_series.then(|| s.points.iter().copied().collect()),
        }
    }

    /// Finding counts by kind, for `/metrics`.
    pub fn findings_by_kind(&self) -> impl Iterator<Item = (FindingKind, u64)> + '_ {
        FindingKind::ALL
            .iter()
            .copied()
            .zip(self.findings.iter().map(|n| n.load(Ordering::Relaxed)))
    }
}

/// Samples the counters and sends a stats tick once a second, until `stop`.
pub async fn run_ticker(state: AdminState, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {
                let c = state.control.counters();
                state.stats.sample(&c, state.clock.now_ms());
                let view = state.stats.view(&state, &c, false);
                if let Ok(data) = serde_json::to_string(&view) {
                    state.feed.tick(data);
                }
            }
        }
    }
}
