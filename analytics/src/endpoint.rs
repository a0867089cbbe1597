//! Owns per-endpoint state: inventory totals, the current bucket's counters and
//! latency histogram, the 60-second latency window, and the baselines learned from
//! complete buckets (EWMA of volume, auth failures, error share and p95 latency;
//! request rate at three horizons). Also what a snapshot of it looks like, so
//! baselines resume warm after a restart.
//!
//! Must not grow with traffic: two fixed-size histograms and a few counters each.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use palisade_models::{EndpointInfo, LATENCY_BUCKETS_US, RequestEvent};

use crate::sketch::{Distinct, Ewma};
use crate::template::TemplateId;

/// Latency range kept, in microseconds (10 µs to 60 s, two significant figures:
/// about 9 KiB per histogram).
const LATENCY_MIN_US: u64 = 10;
const LATENCY_MAX_US: u64 = 60_000_000;
/// The latency window the inventory reports percentiles over.
pub const LATENCY_WINDOW_MS: u64 = 60_000;

/// Counts over one bucket.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bucket {
    pub requests: u32,
    pub auth_failures: u32,
    pub server_errors: u32,
    pub not_found: u32,
}

/// What a complete bucket looked like, for the endpoint detectors.
#[derive(Debug, Clone, Copy)]
pub struct ClosedBucket {
    pub start_ms: u64,
    pub end_ms: u64,
    pub counts: Bucket,
    pub failing_clients: u32,
    pub p95_us: u64,
}

/// Learned from complete buckets; what a snapshot keeps.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Baseline {
    pub requests: Ewma,
    pub auth_failures: Ewma,
    pub error_share: Ewma,
    pub p95_us: Ewma,
    pub rate_1m: f64,
    pub rate_10m: f64,
    pub rate_1h: f64,
    pub bytes_out: Ewma,
    /// Successful reads of this template's objects by their owner and by others.
    pub own_reads: u64,
    pub foreign_reads: u64,
}

/// One endpoint.
#[derive(Debug)]
pub struct EndpointState {
    pub info: EndpointInfo,
    /// `METHOD /template`, made once: findings name the endpoint by it.
    pub name: std::sync::Arc<str>,
    pub template: TemplateId,
    pub base: Baseline,
    pub bucket_start_ms: u64,
    pub bucket: Bucket,
    pub failing: Distinct<2>,
    hist: Histogram<u32>,
    window: Histogram<u32>,
    window_start_ms: u64,
    /// Non-404 answers, for `new_endpoint`.
    pub answered: u32,
    pub new_reported: bool,
    /// When endpoint-level kinds were last reported (ms), by `EndpointKind`.
    pub reported_ms: [u64; 4],
}

/// Endpoint-level kinds, for their cooldowns.
#[derive(Debug, Clone, Copy)]
pub enum EndpointKind {
    AuthFailure = 0,
    Volume,
    Latency,
    Errors,
}

fn histogram(significant_figures: u8) -> Histogram<u32> {
    // INVARIANT: the bounds are constants that hdrhistogram accepts (min >= 1,
    // max >= 2 * min, 1 or 2 significant figures), so construction cannot fail.
    Histogram::new_with_bounds(LATENCY_MIN_US, LATENCY_MAX_US, significant_figures)
        .unwrap_or_else(|e| unreachable!("constant histogram bounds: {e}"))
}

impl EndpointState {
    pub fn new(
        method: &str,
        template: TemplateId,
        text: &str,
        declared: bool,
        now_ms: u64,
    ) -> Self {
        Self {
            name: format!("{method} {text}").into(),
            info: EndpointInfo {
                method: method.into(),
                template: text.into(),
                declared,
                first_seen_ms: now_ms,
                last_seen_ms: now_ms,
                requests: 0,
                status_classes: [0; 5],
                unauthorized: 0,
                forbidden: 0,
                not_found: 0,
                auth_none: 0,
                auth_jwt: 0,
                auth_api_key: 0,
                rate_1m: 0.0,
                rate_10m: 0.0,
                rate_1h: 0.0,
                latency_p50_us: 0,
                latency_p95_us: 0,
                latency_p99_us: 0,
                bytes_out_avg: 0.0,
                latency_counts: vec![0; LATENCY_BUCKETS_US.len() + 1],
                latency_sum_us: 0,
                upstream_answered: 0,
                params_seen: Vec::new(),
            },
            template,
            base: Baseline::default(),
            bucket_start_ms: now_ms,
            bucket: Bucket::default(),
            failing: Distinct::default(),
            // The bucket's p95 only feeds `latency_anomaly`, which compares it to
            // a multiple of the baseline: one significant figure (within 10%) is
            // plenty, and the histogram, cleared every bucket, is a seventh of
            // the size. The minute window the inventory reports keeps two.
            hist: histogram(1),
            window: histogram(2),
            window_start_ms: now_ms,
            answered: 0,
            new_reported: false,
            reported_ms: [0; 4],
        }
    }

    /// Warm-starts from a snapshot taken before a restart.
    pub fn restore(&mut self, snap: &EndpointSnapshot) {
        let info = &snap.info;
        self.info = EndpointInfo {
            declared: self.info.declared,
            last_seen_ms: self.info.last_seen_ms.max(info.last_seen_ms),
            ..info.clone()
        };
        if self.info.latency_counts.len() != LATENCY_BUCKETS_US.len() + 1 {
            // A snapshot from before the buckets existed, or with other bounds.
            self.info.latency_counts = vec![0; LATENCY_BUCKETS_US.len() + 1];
            self.info.latency_sum_us = 0;
        }
        self.base = snap.base;
        // A template known before the restart is not new.
        self.new_reported = true;
    }

    /// Closes the bucket if `now_ms` is past it; returns what it held.
    pub fn advance(&mut self, now_ms: u64, bucket_ms: u64) -> Option<ClosedBucket> {
        if now_ms < self.bucket_start_ms + bucket_ms {
            return None;
        }
        let closed = ClosedBucket {
            start_ms: self.bucket_start_ms,
            end_ms: self.bucket_start_ms + bucket_ms,
            counts: self.bucket,
            failing_clients: self.failing.union_estimate(&Distinct::default()),
            p95_us: if self.hist.is_empty() {
                0
            } else {
                self.hist.value_at_quantile(0.95)
            },
        };
        self.learn(&closed, bucket_ms);
        // Buckets with no traffic at all in between count as quiet buckets.
        let empty = ((now_ms - closed.end_ms) / bucket_ms).min(360) as u32;
        for _ in 0..empty {
            self.learn_quiet(bucket_ms);
        }
        self.bucket = Bucket::default();
        self.failing.clear();
        // A reset clears every counter (kilobytes); quiet endpoints skip it.
        if !self.hist.is_empty() {
            self.hist.reset();
        }
        self.bucket_start_ms = now_ms - (now_ms - self.bucket_start_ms) % bucket_ms;
        if now_ms >= self.window_start_ms + LATENCY_WINDOW_MS {
            if !self.window.is_empty() {
                self.info.latency_p50_us = self.window.value_at_quantile(0.50);
                self.info.latency_p95_us = self.window.value_at_quantile(0.95);
                self.info.latency_p99_us = self.window.value_at_quantile(0.99);
            }
            if !self.window.is_empty() {
                self.window.reset();
            }
            self.window_start_ms = now_ms;
        }
        Some(closed)
    }

    fn learn(&mut self, b: &ClosedBucket, bucket_ms: u64) {
        let secs = bucket_ms as f64 / 1000.0;
        let rate = f64::from(b.counts.requests) / secs;
        self.fold_rate(rate, secs);
        // Baselines learn at about a 30-bucket horizon (5 minutes by default).
        let alpha = 1.0 / 30.0;
        self.base
            .requests
            .update(f64::from(b.counts.requests), alpha);
        self.base
            .auth_failures
            .update(f64::from(b.counts.auth_failures), alpha);
        if b.counts.requests > 0 {
            let share = f64::from(b.counts.server_errors) / f64::from(b.counts.requests);
            self.base.error_share.update(share, alpha);
        }
        if b.counts.requests >= 10 && b.p95_us > 0 {
            self.base.p95_us.update(b.p95_us as f64, alpha);
        }
    }

    fn learn_quiet(&mut self, bucket_ms: u64) {
        let secs = bucket_ms as f64 / 1000.0;
        self.fold_rate(0.0, secs);
        let alpha = 1.0 / 30.0;
        self.base.requests.update(0.0, alpha);
        self.base.auth_failures.update(0.0, alpha);
    }

    fn fold_rate(&mut self, rate: f64, secs: f64) {
        let fold = |avg: &mut f64, horizon: f64| {
            let a = 1.0 - (-secs / horizon).exp();
            *avg += a * (rate - *avg);
        };
        fold(&mut self.base.rate_1m, 60.0);
        fold(&mut self.base.rate_10m, 600.0);
        fold(&mut self.base.rate_1h, 3600.0);
        self.info.rate_1m = self.base.rate_1m;
        self.info.rate_10m = self.base.rate_10m;
        self.info.rate_1h = self.base.rate_1h;
    }

    /// Counts one exchange.
    pub fn record(&mut self, ev: &RequestEvent, now_ms: u64, client_hash: u64) {
        let info = &mut self.info;
        info.last_seen_ms = info.last_seen_ms.max(now_ms);
        info.requests += 1;
        let class = (ev.status / 100) as usize;
        if (1..=5).contains(&class) {
            info.status_classes[class - 1] += 1;
        }
        match ev.status {
            401 => info.unauthorized += 1,
            403 => info.forbidden += 1,
            404 => info.not_found += 1,
            _ => {}
        }
        if ev.subject.is_some() {
            info.auth_jwt += 1;
        } else if ev.api_key_id.is_some() {
            info.auth_api_key += 1;
        } else {
            info.auth_none += 1;
        }
        self.base.bytes_out.update(ev.bytes_out as f64, 0.01);
        info.bytes_out_avg = self.base.bytes_out.mean;
        self.bucket.requests += 1;
        match ev.status {
            401 | 403 => {
                self.bucket.auth_failures += 1;
                self.failing.insert(client_hash);
            }
            404 => self.bucket.not_found += 1,
            _ if ev.server_error() => self.bucket.server_errors += 1,
            _ => {}
        }
        if ev.status != 404 && ev.status != 0 {
            self.answered = self.answered.saturating_add(1);
        }
        if ev.deny.is_none() && ev.status != 404 && ev.status != 0 {
            info.upstream_answered += 1;
        }
        remember_params(&mut info.params_seen, ev);
        let bucket = LATENCY_BUCKETS_US.partition_point(|le| *le < ev.latency_us);
        if let Some(c) = info.latency_counts.get_mut(bucket) {
            *c += 1;
        }
        info.latency_sum_us += ev.latency_us;
        let us = ev.latency_us.clamp(LATENCY_MIN_US, LATENCY_MAX_US);
        // Within bounds by the clamp, so recording cannot fail.
        let _ = self.hist.record(us);
        let _ = self.window.record(us);
    }

    /// Whether `kind` may be reported again at `now_ms`.
    pub fn should_report(&mut self, kind: EndpointKind, now_ms: u64, cooldown_ms: u64) -> bool {
        let last = &mut self.reported_ms[kind as usize];
        if *last != 0 && now_ms < *last + cooldown_ms {
            return false;
        }
        *last = now_ms;
        true
    }

    /// Whether this template's objects each belong to one principal, as traffic
    /// shows it.
    pub fn owned(&self, min_reads: u32, share: f64) -> bool {
        let total = self.base.own_reads + self.base.foreign_reads;
        total >= u64::from(min_reads) && self.base.own_reads as f64 >= share * total as f64
    }

    /// Counts a successful read of one of its objects by the owner or someone else.
    pub fn count_read(&mut self, own: bool) {
        if own {
            self.base.own_reads += 1;
        } else {
            self.base.foreign_reads += 1;
        }
        // Keep the share adaptive: halve both once they are large.
        if self.base.own_reads + self.base.foreign_reads > 100_000 {
            self.base.own_reads /= 2;
            self.base.foreign_reads /= 2;
        }
    }

    pub fn snapshot(&self) -> EndpointSnapshot {
        EndpointSnapshot {
            info: self.info.clone(),
            base: self.base,
        }
    }
}

/// What is persisted per endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndpointSnapshot {
    pub info: EndpointInfo,
    pub base: Baseline,
}

/// Adds the query parameter names and undeclared body properties of `ev` to
/// `seen`, up to `PARAMS_SEEN_MAX` names (drift reads them). Allocates only for
/// a name not seen before.
fn remember_params(seen: &mut Vec<Box<str>>, ev: &RequestEvent) {
    use palisade_models::endpoint::PARAMS_SEEN_MAX;
    use palisade_models::{ParamLocation, ViolationKind};
    let mut add = |prefix: &str, name: &str| {
        if seen.len() >= PARAMS_SEEN_MAX
            || seen.iter().any(|s| s.strip_prefix(prefix) == Some(name))
        {
            return;
        }
        seen.push(format!("{prefix}{name}").into());
    };
    if let Some(q) = &ev.query_keys {
        for k in q.split('&').filter(|k| !k.is_empty()) {
            add("query.", k);
        }
    }
    if let Some(r) = &ev.schema {
        for v in r.violations.iter() {
            if v.location == ParamLocation::Body && v.kind != ViolationKind::Invalid
                || v.rule == "additionalProperties"
            {
                add("body", &v.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(status: u16, latency_us: u64) -> RequestEvent {
        RequestEvent {
            status,
            latency_us,
            ..RequestEvent::example()
        }
    }

    #[test]
    fn load_shed_by_the_proxy_is_not_the_endpoints_error() {
        let mut e = EndpointState::new("GET", 1, "/x", false, 0);
        let shed = RequestEvent {
            deny: Some(palisade_models::Denial {
                phase: palisade_models::Phase::Accept,
                code: palisade_models::DenyCode::Overloaded,
            }),
            ..ev(503, 10)
        };
        let unreachable = RequestEvent {
            deny: Some(palisade_models::Denial {
                phase: palisade_models::Phase::Forward,
                code: palisade_models::DenyCode::UpstreamUnavailable,
            }),
            ..ev(502, 10)
        };
        for _ in 0..40 {
            e.record(&shed, 10, 1);
        }
        for _ in 0..3 {
            e.record(&unreachable, 10, 1);
            e.record(&ev(500, 1000), 10, 1);
        }
        let closed = e.advance(10_000, 10_000).unwrap();
        assert_eq!(closed.counts.requests, 46);
        assert_eq!(
            closed.counts.server_errors, 6,
            "the upstream's, not the sheds"
        );
    }

    #[test]
    fn buckets_close_and_baselines_learn() {
        let mut e = EndpointState::new("GET", 1, "/x", false, 0);
        for i in 0..100 {
            e.record(&ev(if i < 5 { 500 } else { 200 }, 1000), 10, 1);
        }
        assert!(e.advance(9_999, 10_000).is_none());
        let closed = e.advance(10_000, 10_000).unwrap();
        assert_eq!(closed.counts.requests, 100);
        assert_eq!(closed.counts.server_errors, 5);
        assert!((900..=1100).contains(&closed.p95_us), "{}", closed.p95_us);
        assert_eq!(e.base.requests.mean, 100.0);
        assert!((e.base.error_share.mean - 0.05).abs() < 1e-9);
        assert_eq!(e.info.requests, 100);
        assert_eq!(e.info.status_classes[4], 5);
        // A quiet minute pulls the volume baseline down.
        e.advance(70_000, 10_000).unwrap();
        assert!(e.base.requests.mean < 100.0);
        assert!(e.info.latency_p95_us > 0, "the 60 s window closed");
    }
}
