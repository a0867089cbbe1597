//! `signature`: attack-signature hits from the proxy, aggregated per client, so a
//! client that keeps attacking is blocked as a whole rather than denied request by
//! request.

use palisade_models::config::SignatureDetectorConfig;
use palisade_models::{FindingKind, RequestEvent, Severity};

use super::{Ctx, Report, Who, confidence, cooldown_s};
use crate::client::{ClientState, Reported};
use crate::evidence;

/// At least `hits` requests with signature matches over one to two windows.
pub fn check(
    cfg: &SignatureDetectorConfig,
    ctx: &mut Ctx<'_>,
    c: &mut ClientState,
    who: Who<'_>,
    ev: &RequestEvent,
) {
    if !cfg.enabled {
        return;
    }
    let Some(sig) = &ev.signatures else { return };
    let hits = c.total(|k| k.signature_hits);
    if hits < cfg.hits {
        return;
    }
    if !c.should_report(
        Reported::Signature,
        (ctx.now_ms / 1000) as u32,
        cooldown_s(ctx),
    ) {
        return;
    }
    let rules: Vec<&str> = sig.rule_ids.iter().map(|r| &**r).take(8).collect();
    ctx.report(Report {
        kind: FindingKind::Signature,
        severity: Severity::High,
        confidence: confidence(0.8, f64::from(hits), f64::from(cfg.hits)),
        client: who.client(),
        endpoint: None,
        window_start_ms: ctx.client_window_start(),
        summary: format!("{hits} requests matched attack signatures"),
        evidence: evidence![
            "requests_with_hits" => hits,
            "requests" => c.total(|k| k.requests),
            "last_score" => sig.score,
            "last_rules" => rules,
            "threshold" => cfg.hits,
        ],
    });
}
