//! `unusual_client`: a client the client-behaviour model (batch crate, KMeans over
//! standardised per-client features of the event window) places far from every
//! cluster of ordinary clients. Low severity: behaviour that stands out is worth a
//! look, not a block by itself; the finding names the features that made it
//! stand out, with the client's value and its cluster's typical one.
//!
//! Called on the worker's tick for each client of a new batch run, never per event.

use palisade_models::config::UnusualClientConfig;
use palisade_models::{ClientName, FindingClient, FindingKind, Severity};
use serde_json::json;

use super::{Ctx, Report, confidence, round};
use crate::batch::UnusualClient;
use crate::evidence;

/// Reports `u` when its score reaches the threshold; the caller enforces the
/// cooldown. `window_start_ms` is where the batch's events begin.
pub fn check(
    cfg: &UnusualClientConfig,
    ctx: &mut Ctx<'_>,
    u: &UnusualClient,
    window_start_ms: u64,
) {
    if !cfg.enabled || u.score < cfg.min_score || u.requests < u64::from(cfg.min_requests) {
        return;
    }
    let named: Vec<String> = u
        .features
        .iter()
        .map(|f| {
            format!(
                "{} {} (typical {})",
                f.name,
                short(f.value),
                short(f.typical)
            )
        })
        .collect();
    let features: Vec<serde_json::Value> = u
        .features
        .iter()
        .map(|f| {
            json!({
                "name": f.name,
                "value": round(f.value),
                "typical": round(f.typical),
                "share": round(f.share),
            })
        })
        .collect();
    ctx.report(Report {
        kind: FindingKind::UnusualClient,
        severity: Severity::Low,
        confidence: confidence(0.3, u.score, cfg.min_score),
        client: finding_client(&u.client),
        endpoint: None,
        window_start_ms,
        summary: format!(
            "behaves unlike other clients (score {:.1}): {}",
            u.score,
            named.join(", ")
        ),
        evidence: evidence![
            "score" => round(u.score),
            "threshold" => cfg.min_score,
            "cluster" => u.cluster,
            "requests" => u.requests,
            "features" => features,
        ],
    });
}

fn finding_client(c: &ClientName) -> FindingClient {
    match c {
        ClientName::Ip(ip) => FindingClient {
            ip: Some(*ip),
            ..FindingClient::default()
        },
        ClientName::Subject(s) => FindingClient {
            subject: Some(s.clone()),
            ..FindingClient::default()
        },
        ClientName::ApiKey(k) => FindingClient {
            api_key_id: Some(k.clone()),
            ..FindingClient::default()
        },
    }
}

/// A number for a one-line summary: whole above 10, two decimals below.
fn short(x: f64) -> String {
    if x.abs() >= 10.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}
