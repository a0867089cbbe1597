//! `mass_assignment`: a client sent body properties an OpenAPI operation does
//! not accept and that grant privileges or set server-owned state (`role`,
//! `is_admin`, a `readOnly` id, the balance of the resource it returns). The
//! proxy's validate phase tells them apart; one attempt is a finding, since
//! legitimate clients built from the spec never send them.
//!
//! Must name the fields only, never their values.

use palisade_models::config::MassAssignmentConfig;
use palisade_models::{FindingKind, RequestEvent, Severity, ViolationKind};

use super::{Ctx, Report, Who, cooldown_s};
use crate::client::{ClientState, Reported};
use crate::evidence;

/// Reports the first mass-assignment attempt of a client in two windows.
pub fn check(
    cfg: &MassAssignmentConfig,
    ctx: &mut Ctx<'_>,
    c: &mut ClientState,
    who: Who<'_>,
    ev: &RequestEvent,
    endpoint: &str,
) {
    if !cfg.enabled {
        return;
    }
    let Some(schema) = &ev.schema else { return };
    let fields: Vec<&str> = schema
        .violations
        .iter()
        .filter(|v| v.kind == ViolationKind::MassAssignment)
        .map(|v| &*v.name)
        .collect();
    if fields.is_empty() {
        return;
    }
    if !c.should_report(
        Reported::MassAssignment,
        (ctx.now_ms / 1000) as u32,
        cooldown_s(ctx),
    ) {
        return;
    }
    // Let through (detect mode, or "flag"), the upstream may have applied them.
    let reached = !schema.denied && ev.deny.is_none();
    let target = if endpoint.is_empty() {
        ev.route.as_deref().unwrap_or("")
    } else {
        endpoint
    };
    ctx.report(Report {
        kind: FindingKind::MassAssignment,
        // Medium, not high: a client built from an older spec may send a field
        // the operation has since dropped; one request should not block it.
        severity: if reached {
            Severity::Medium
        } else {
            Severity::Low
        },
        confidence: 0.9,
        client: who.client(),
        endpoint: (!target.is_empty()).then(|| target.into()),
        window_start_ms: ctx.client_window_start(),
        summary: format!(
            "sent {} the operation does not accept: {}",
            if fields.len() == 1 {
                "a field"
            } else {
                "fields"
            },
            fields.join(", ")
        ),
        evidence: evidence![
            "fields" => fields,
            "denied" => !reached,
            "status" => ev.status,
        ],
    });
}

#[cfg(test)]
mod tests {
    use palisade_models::{ParamLocation, SchemaReport, Violation};

    use super::*;
    use crate::detectors::Rng;

    fn event(kind: ViolationKind, denied: bool) -> RequestEvent {
        RequestEvent {
            method: http::Method::POST,
            route: Some("/api/users".into()),
            schema: Some(Box::new(SchemaReport {
                violations: Box::new([Violation {
                    location: ParamLocation::Body,
                    name: "/is_admin".into(),
                    rule: "unknown",
                    kind,
                }]),
                denied,
            })),
            ..RequestEvent::example()
        }
    }

    #[test]
    fn one_attempt_is_a_finding_then_the_client_cools_down() {
        let cfg = MassAssignmentConfig::default();
        let mut out = Vec::new();
        let mut rng = Rng::new();
        let mut ctx = Ctx {
            now_ms: 120_000,
            window_ms: 60_000,
            out: &mut out,
            rng: &mut rng,
        };
        let mut c = ClientState::new(120_000, 60_000);
        let who = Who {
            ip: std::net::IpAddr::from([10, 0, 0, 1]),
            subject: None,
            api_key_id: None,
        };
        check(
            &cfg,
            &mut ctx,
            &mut c,
            who,
            &event(ViolationKind::Unknown, false),
            "POST /api/users",
        );
        assert!(
            ctx.out.is_empty(),
            "a plain unknown field is no mass assignment"
        );
        check(
            &cfg,
            &mut ctx,
            &mut c,
            who,
            &event(ViolationKind::MassAssignment, false),
            "POST /api/users",
        );
        check(
            &cfg,
            &mut ctx,
            &mut c,
            who,
            &event(ViolationKind::MassAssignment, true),
            "POST /api/users",
        );
        assert_eq!(ctx.out.len(), 1, "one finding per client per two windows");
        let f = &ctx.out[0];
        assert_eq!(f.kind, FindingKind::MassAssignment);
        assert_eq!(f.severity, Severity::Medium, "it reached the upstream");
        assert_eq!(f.endpoint.as_deref(), Some("POST /api/users"));
        assert_eq!(f.evidence["fields"], serde_json::json!(["/is_admin"]));
        assert!(!f.summary.contains("true"), "no value: {}", f.summary);
    }
}
