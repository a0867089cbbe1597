//! `scraping`: a client's volume far above what clients of this service usually
//! send in a window, or a walk over many objects of a shared template (a catalog).

use palisade_models::config::ScrapingConfig;
use palisade_models::{FindingKind, Severity};

use super::bola_enumeration::{Ownership, Signals};
use super::{Ctx, Report, Who, confidence, cooldown_s, round};
use crate::client::{ClientState, ObjectSlot, Reported};
use crate::evidence;

/// Volume: requests over one to two windows above `factor` times the 95th
/// percentile of per-client volume (`p95`), and above `min_requests`.
pub fn volume(
    cfg: &ScrapingConfig,
    ctx: &mut Ctx<'_>,
    c: &mut ClientState,
    who: Who<'_>,
    p95: u32,
) {
    if !cfg.enabled {
        return;
    }
    let requests = c.total(|k| k.requests);
    // The two windows summed against a one-window percentile: twice the percentile.
    let threshold = f64::from(cfg.min_requests).max(cfg.factor * 2.0 * f64::from(p95));
    if f64::from(requests) < threshold {
        return;
    }
    if !c.should_report(
        Reported::Scraping,
        (ctx.now_ms / 1000) as u32,
        cooldown_s(ctx),
    ) {
        return;
    }
    ctx.report(Report {
        kind: FindingKind::Scraping,
        severity: Severity::High,
        confidence: confidence(0.6, f64::from(requests), threshold),
        client: who.client(),
        endpoint: None,
        window_start_ms: ctx.client_window_start(),
        summary: format!(
            "{requests} requests in {}s, {:.0} expected at most",
            2 * ctx.window_ms / 1000,
            threshold
        ),
        evidence: evidence![
            "requests" => requests,
            "expected_max" => round(threshold),
            "client_p95_per_window" => p95,
            "gap_cv" => round(f64::from(c.gap_cv())),
        ],
    });
}

/// Page walk: many distinct objects of a shared template.
pub fn objects(
    cfg: &ScrapingConfig,
    ctx: &mut Ctx<'_>,
    c: &mut ClientState,
    slot: &ObjectSlot,
    who: Who<'_>,
    endpoint: &str,
    ownership: Ownership,
) {
    if !cfg.enabled || ownership == Ownership::Owned {
        return;
    }
    let s = Signals::of(slot);
    if s.ids < cfg.distinct_objects {
        return;
    }
    if !c.should_report(
        Reported::Scraping,
        (ctx.now_ms / 1000) as u32,
        cooldown_s(ctx),
    ) {
        return;
    }
    ctx.report(Report {
        kind: FindingKind::Scraping,
        severity: Severity::High,
        confidence: confidence(0.6, f64::from(s.ids), f64::from(cfg.distinct_objects)),
        client: who.client(),
        endpoint: Some(endpoint.into()),
        window_start_ms: ctx.client_window_start(),
        summary: format!("{} distinct objects of {endpoint} walked", s.ids),
        evidence: evidence![
            "distinct_ids" => s.ids,
            "sequential_steps" => s.sequential,
            "sample_ids" => slot.sample_ids(),
            "threshold" => cfg.distinct_objects,
        ],
    });
}
