//! `GET /api/clients` (top talkers and top failing, from the analytics worker's
//! live view) and `GET /api/clients/{key}` (one client: its live counters, its
//! findings, the blocks on it and its timeline of findings and block changes).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use palisade_models::{Block, BlockScope, ClientName, ClientSummary, Finding};
use palisade_store::{AuditAction, FindingFilter, PageRequest};

use super::{ApiError, P};
use crate::state::AdminState;

/// Findings and audit records a client page shows.
const CLIENT_HISTORY: usize = 100;
/// Audit records scanned for a client's block history.
const AUDIT_SCAN: usize = 2000;

#[derive(Debug, Serialize)]
pub struct Listed {
    #[serde(flatten)]
    summary: ClientSummary,
    blocked: bool,
}

#[derive(Debug, Serialize)]
pub struct Top {
    tracked: u64,
    top_talkers: Vec<Listed>,
    top_failing: Vec<Listed>,
}

pub async fn top(State(s): State<AdminState>) -> Json<Top> {
    let live = s.live.load();
    let blocks = s.control.active_blocks();
    let list = |v: &[ClientSummary]| {
        v.iter()
            .map(|c| Listed {
                blocked: blocked(&blocks, &c.key),
                summary: c.clone(),
            })
            .collect()
    };
    Json(Top {
        tracked: live.clients_tracked,
        top_talkers: list(&live.top_talkers),
        top_failing: list(&live.top_failing),
    })
}

fn covers(b: &Block, who: &ClientName) -> bool {
    match (&b.scope, who) {
        (BlockScope::Ip(a), ClientName::Ip(b)) => a == b,
        (BlockScope::Cidr(net), ClientName::Ip(ip)) => net.contains(ip),
        (BlockScope::Subject(a), ClientName::Subject(b)) => a == b,
        (BlockScope::ApiKey(a), ClientName::ApiKey(b)) => a == b,
        _ => false,
    }
}

fn blocked(blocks: &[Arc<Block>], who: &ClientName) -> bool {
    blocks.iter().any(|b| covers(b, who))
}

#[derive(Debug, Serialize)]
pub struct Moment {
    at_ms: u64,
    #[serde(rename = "type")]
    kind: &'static str,
    summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    finding: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    block: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Client {
    key: ClientName,
    live: Option<ClientSummary>,
    findings: Vec<Finding>,
    blocks: Vec<Block>,
    timeline: Vec<Moment>,
}

pub async fn one(State(s): State<AdminState>, P(key): P<String>) -> Result<Json<Client>, ApiError> {
    let who: ClientName = key.parse().map_err(ApiError::bad_request)?;
    let live = s.control.client(who.clone());
    let store = s.store.clone();
    let w = who.clone();
    let (findings, audit) = tokio::task::spawn_blocking(move || {
        let filter = FindingFilter {
            client: Some(w.value()),
            ..FindingFilter::default()
        };
        let page = store.findings(
            &filter,
            PageRequest {
                after: None,
                limit: CLIENT_HISTORY,
            },
        )?;
        let audit = store.audit(AUDIT_SCAN)?;
        Ok::<_, palisade_store::StoreError>((page.items, audit))
    })
    .await
    .map_err(|e| ApiError::internal("reading the client's history", e))??;
    let mut timeline: Vec<Moment> = findings
        .iter()
        .map(|f| Moment {
            at_ms: f.window_end_ms,
            kind: "finding",
            summary: format!("{} ({}): {}", f.kind, f.severity, f.summary),
            finding: Some(f.id.to_string()),
            block: None,
        })
        .chain(
            audit
                .iter()
                .filter(|r| covers(&r.block, &who))
                .take(CLIENT_HISTORY)
                .map(|r| {
                    let (kind, verb) = match r.action {
                        AuditAction::BlockCreated => ("block_created", "blocked"),
                        AuditAction::BlockRemoved => ("block_removed", "unblocked"),
                        AuditAction::BlockExpired => ("block_expired", "block expired"),
                    };
                    Moment {
                        at_ms: r.at_ms,
                        kind,
                        summary: format!("{verb} by {}: {}", r.actor, r.reason),
                        finding: r.block.finding.map(|f| f.to_string()),
                        block: Some(r.block.id),
                    }
                }),
        )
        .collect();
    timeline.sort_by_key(|m| std::cmp::Reverse(m.at_ms));
    let blocks = s
        .control
        .active_blocks()
        .iter()
        .filter(|b| covers(b, &who))
        .map(|b| (**b).clone())
        .collect();
    Ok(Json(Client {
        key: who,
        live: live.await,
        findings,
        blocks,
        timeline,
    }))
}
