//! `new_endpoint`: an undeclared or newly seen template answered with something
//! other than 404 — shadow API discovery. With routes declared in config, any
//! undeclared endpoint that answers is medium; without, templates first seen after
//! the learning period are low.

use palisade_models::config::NewEndpointConfig;
use palisade_models::{FindingClient, FindingKind, Severity};

use super::{Ctx, Report};
use crate::endpoint::EndpointState;
use crate::evidence;

pub fn check(
    cfg: &NewEndpointConfig,
    ctx: &mut Ctx<'_>,
    e: &mut EndpointState,
    routes_declared: bool,
    learning: bool,
) {
    if !cfg.enabled || e.new_reported || e.info.declared || e.answered < cfg.min_requests {
        return;
    }
    e.new_reported = true;
    let severity = if routes_declared {
        Severity::Medium
    } else if learning {
        // Learned quietly: everything is new while the inventory first fills.
        return;
    } else {
        Severity::Low
    };
    let name = e.name.clone();
    ctx.report(Report {
        kind: FindingKind::NewEndpoint,
        severity,
        confidence: 0.9,
        client: FindingClient::default(),
        endpoint: Some((*name).into()),
        window_start_ms: e.info.first_seen_ms,
        summary: if routes_declared {
            format!("{name} is not declared but answers requests (shadow endpoint)")
        } else {
            format!("{name} is new: first seen after the learning period")
        },
        evidence: evidence![
            "requests" => e.info.requests,
            "answered" => e.answered,
            "status_classes" => e.info.status_classes,
            "declared_routes" => routes_declared,
        ],
    });
}
