//! `latency_anomaly`: an endpoint's p95 latency in one bucket far above its
//! learned p95 (the upstream struggling, or expensive requests being sent).
//! When the batch baselines know this hour of the day for the endpoint, the p95
//! must also reach `factor` times that hour's p95 over the window: the batch view
//! can only raise the threshold (a slow hour that is normal is not a finding).

use palisade_models::config::LatencyAnomalyConfig;
use palisade_models::{FindingClient, FindingKind, Severity};

use super::{Ctx, Report, confidence, round};
use crate::batch::HourBaseline;
use crate::endpoint::{ClosedBucket, EndpointKind, EndpointState};
use crate::evidence;

pub fn check(
    cfg: &LatencyAnomalyConfig,
    ctx: &mut Ctx<'_>,
    e: &mut EndpointState,
    b: &ClosedBucket,
    warm: bool,
    hour: Option<HourBaseline>,
) {
    if !cfg.enabled || !warm || e.base.p95_us.n < 10 {
        return;
    }
    if b.counts.requests < cfg.min_requests {
        return;
    }
    let base = e.base.p95_us.mean;
    let p95 = b.p95_us as f64;
    let threshold = (base * cfg.factor).max(base + cfg.min_increase_ms as f64 * 1000.0);
    let threshold = hour.map_or(threshold, |h| threshold.max(h.latency_us.p95 * cfg.factor));
    if p95 < threshold {
        return;
    }
    if !e.should_report(EndpointKind::Latency, ctx.now_ms, 300_000) {
        return;
    }
    let name = e.name.clone();
    ctx.report(Report {
        kind: FindingKind::LatencyAnomaly,
        severity: Severity::Medium,
        confidence: confidence(0.5, p95, threshold),
        client: FindingClient::default(),
        endpoint: Some((*name).into()),
        window_start_ms: b.start_ms,
        summary: format!(
            "{name}: p95 latency {:.0} ms, baseline {:.0} ms",
            p95 / 1000.0,
            base / 1000.0
        ),
        evidence: evidence![
            "observed_p95_ms" => round(p95 / 1000.0),
            "expected_p95_ms" => round(base / 1000.0),
            "requests" => b.counts.requests,
        ],
    });
}
