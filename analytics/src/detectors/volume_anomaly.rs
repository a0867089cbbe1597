//! `volume_anomaly`: an endpoint's requests in one bucket far above its learned
//! baseline (a flood, a runaway client, a scrape spread over many clients).
//! When the batch baselines know this hour of the day for the endpoint, the bucket
//! must also be above that hour's robust upper bound (median + `sigmas` robust
//! σ): the batch view can only raise the threshold, so a busy hour that is
//! normal for the service is not a finding, and no batch run makes one.

use palisade_models::config::VolumeAnomalyConfig;
use palisade_models::{FindingClient, FindingKind, Severity};

use super::{Ctx, Report, confidence, round};
use crate::batch::HourBaseline;
use crate::endpoint::{ClosedBucket, EndpointKind, EndpointState};
use crate::evidence;

pub fn check(
    cfg: &VolumeAnomalyConfig,
    ctx: &mut Ctx<'_>,
    e: &mut EndpointState,
    b: &ClosedBucket,
    warm: bool,
    hour: Option<HourBaseline>,
) {
    if !cfg.enabled || !warm {
        return;
    }
    let n = f64::from(b.counts.requests);
    let base = e.base.requests;
    let expected = (base.mean + cfg.sigmas * base.std().max(1.0)).max(cfg.factor * base.mean);
    let expected = hour.map_or(expected, |h| expected.max(h.rate.upper(cfg.sigmas)));
    if b.counts.requests < cfg.min_requests || n < expected {
        return;
    }
    if !e.should_report(EndpointKind::Volume, ctx.now_ms, 300_000) {
        return;
    }
    let name = e.name.clone();
    ctx.report(Report {
        kind: FindingKind::VolumeAnomaly,
        severity: Severity::Medium,
        confidence: confidence(0.5, n, expected),
        client: FindingClient::default(),
        endpoint: Some((*name).into()),
        window_start_ms: b.start_ms,
        summary: format!(
            "{name}: {} requests in {}s, baseline {:.1}",
            b.counts.requests,
            (b.end_ms - b.start_ms) / 1000,
            base.mean
        ),
        evidence: evidence![
            "observed" => b.counts.requests,
            "expected" => round(base.mean),
            "stddev" => round(base.std()),
            "threshold" => round(expected),
        ],
    });
}
