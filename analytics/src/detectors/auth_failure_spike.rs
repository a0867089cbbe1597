//! `auth_failure_spike`: 401/403 answers far above normal, for one address (a
//! client spraying tokens or keys) and for one endpoint across many clients.
//! Login attempts are left to `credential_stuffing` and `brute_force`.

use std::net::IpAddr;

use palisade_models::config::AuthFailureSpikeConfig;
use palisade_models::{FindingClient, FindingKind, Severity};

use super::{Ctx, Report, confidence, cooldown_s, round};
use crate::client::{ClientState, Reported};
use crate::endpoint::{ClosedBucket, EndpointKind, EndpointState};
use crate::evidence;

/// One address: at least `client_failures` refusals that are at least
/// `client_ratio` of its requests, over the last one to two windows.
pub fn client(cfg: &AuthFailureSpikeConfig, ctx: &mut Ctx<'_>, ip: IpAddr, c: &mut ClientState) {
    if !cfg.enabled {
        return;
    }
    let failures = c.total(|k| k.unauthorized + k.forbidden);
    if failures < cfg.client_failures {
        return;
    }
    let requests = c.total(|k| k.requests).max(1);
    let ratio = f64::from(failures) / f64::from(requests);
    if ratio < cfg.client_ratio {
        return;
    }
    if !c.should_report(
        Reported::AuthFailure,
        (ctx.now_ms / 1000) as u32,
        cooldown_s(ctx),
    ) {
        return;
    }
    ctx.report(Report {
        kind: FindingKind::AuthFailureSpike,
        severity: Severity::High,
        confidence: confidence(0.7, f64::from(failures), f64::from(cfg.client_failures)),
        client: FindingClient {
            ip: Some(ip),
            ..FindingClient::default()
        },
        endpoint: None,
        window_start_ms: ctx.client_window_start(),
        summary: format!("{ip} was refused {failures} times (401/403) out of {requests} requests"),
        evidence: evidence![
            "failures" => failures,
            "unauthorized" => c.total(|k| k.unauthorized),
            "forbidden" => c.total(|k| k.forbidden),
            "requests" => requests,
            "ratio" => round(ratio),
            "threshold" => cfg.client_failures,
        ],
    });
}

/// One endpoint: a bucket's refusals `endpoint_sigmas` above its baseline, at least
/// `endpoint_failures`, from at least `endpoint_clients` clients.
pub fn endpoint(
    cfg: &AuthFailureSpikeConfig,
    ctx: &mut Ctx<'_>,
    e: &mut EndpointState,
    b: &ClosedBucket,
    warm: bool,
) {
    if !cfg.enabled || !warm {
        return;
    }
    let f = f64::from(b.counts.auth_failures);
    let base = e.base.auth_failures;
    let expected = base.mean + cfg.endpoint_sigmas * base.std().max(1.0);
    if b.counts.auth_failures < cfg.endpoint_failures
        || f < expected
        || b.failing_clients < cfg.endpoint_clients
    {
        return;
    }
    if !e.should_report(EndpointKind::AuthFailure, ctx.now_ms, 300_000) {
        return;
    }
    let name = e.name.clone();
    ctx.report(Report {
        kind: FindingKind::AuthFailureSpike,
        severity: Severity::Medium,
        confidence: confidence(0.6, f, expected),
        client: FindingClient::default(),
        endpoint: Some((*name).into()),
        window_start_ms: b.start_ms,
        summary: format!(
            "{name}: {} refusals (401/403) from {} clients in {}s, baseline {:.1}",
            b.counts.auth_failures,
            b.failing_clients,
            (b.end_ms - b.start_ms) / 1000,
            base.mean
        ),
        evidence: evidence![
            "observed" => b.counts.auth_failures,
            "expected" => round(base.mean),
            "stddev" => round(base.std()),
            "clients" => b.failing_clients,
            "requests" => b.counts.requests,
        ],
    });
}
