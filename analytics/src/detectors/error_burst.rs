//! `error_burst`: an endpoint answering 5xx in a burst, far above its usual share.

use palisade_models::config::ErrorBurstConfig;
use palisade_models::{FindingClient, FindingKind, Severity};

use super::{Ctx, Report, confidence, round};
use crate::endpoint::{ClosedBucket, EndpointKind, EndpointState};
use crate::evidence;

pub fn check(cfg: &ErrorBurstConfig, ctx: &mut Ctx<'_>, e: &mut EndpointState, b: &ClosedBucket) {
    if !cfg.enabled || b.counts.server_errors < cfg.min_errors {
        return;
    }
    let share = f64::from(b.counts.server_errors) / f64::from(b.counts.requests.max(1));
    let base = e.base.error_share.mean;
    if share < cfg.min_share || share < cfg.factor * base {
        return;
    }
    if !e.should_report(EndpointKind::Errors, ctx.now_ms, 300_000) {
        return;
    }
    let name = e.name.clone();
    ctx.report(Report {
        kind: FindingKind::ErrorBurst,
        severity: Severity::High,
        confidence: confidence(0.6, share, cfg.min_share.max(cfg.factor * base)),
        client: FindingClient::default(),
        endpoint: Some((*name).into()),
        window_start_ms: b.start_ms,
        summary: format!(
            "{name}: {} of {} answers were 5xx ({:.0}%), usually {:.1}%",
            b.counts.server_errors,
            b.counts.requests,
            share * 100.0,
            base * 100.0
        ),
        evidence: evidence![
            "server_errors" => b.counts.server_errors,
            "requests" => b.counts.requests,
            "share" => round(share),
            "expected_share" => round(base),
        ],
    });
}
