//! `GET /api/findings` (filtered, paginated newest first) and
//! `GET /api/findings/{id}` (with evidence and the blocks it caused).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use palisade_models::{Block, Finding, FindingId, FindingKind, Severity};
use palisade_store::{FindingFilter, PageRequest};

use super::{ApiError, P, Q};
use crate::state::AdminState;

/// Findings per page unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 50;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    kind: Option<String>,
    /// The minimum severity.
    severity: Option<String>,
    client: Option<String>,
    endpoint: Option<String>,
    /// Milliseconds since the epoch, an RFC 3339 time, or a duration ago ("1h").
    since: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

#[derive(Debug, Serialize)]
pub struct Page {
    items: Vec<Finding>,
    next: Option<FindingId>,
}

pub async fn list(State(s): State<AdminState>, Q(q): Q<ListQuery>) -> Result<Json<Page>, ApiError> {
    let filter = FindingFilter {
        kind: q
            .kind
            .as_deref()
            .filter(|k| !k.is_empty())
            .map(parse_kind)
            .transpose()?,
        min_severity: q
            .severity
            .as_deref()
            .filter(|v| !v.is_empty())
            .map(parse_severity)
            .transpose()?,
        client: q.client.filter(|c| !c.is_empty()),
        endpoint: q.endpoint.filter(|e| !e.is_empty()),
        since_ms: q
            .since
            .as_deref()
            .filter(|v| !v.is_empty())
            .map(|v| parse_since(v, s.clock.now_ms()))
            .transpose()?,
    };
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=palisade_store::MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be 1 to {}",
            palisade_store::MAX_PAGE
        )));
    }
    let after = q
        .after
        .as_deref()
        .filter(|v| !v.is_empty())
        .map(|a| {
            a.parse::<FindingId>().map_err(|_| {
                ApiError::bad_request("after must be the `next` value of a previous page")
            })
        })
        .transpose()?;
    let store = s.store.clone();
    let page =
        tokio::task::spawn_blocking(move || store.findings(&filter, PageRequest { after, limit }))
            .await
            .map_err(|e| ApiError::internal("listing findings", e))??;
    Ok(Json(Page {
        items: page.items,
        next: page.next,
    }))
}

#[derive(Debug, Serialize)]
pub struct Detail {
    #[serde(flatten)]
    finding: Finding,
    /// Blocks in force that this finding caused.
    blocks: Vec<Block>,
}

pub async fn one(State(s): State<AdminState>, P(id): P<String>) -> Result<Json<Detail>, ApiError> {
    let id: FindingId = id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("`{id}` is not a finding id (a UUID)")))?;
    let finding = s.store.finding(id)?.ok_or_else(|| {
        ApiError::not_found(format!("no finding {id} (retention may have removed it)"))
    })?;
    let blocks = s
        .control
        .active_blocks()
        .iter()
        .filter(|b| b.finding == Some(id))
        .map(|b| (**b).clone())
        .collect();
    Ok(Json(Detail { finding, blocks }))
}

fn parse_kind(v: &str) -> Result<FindingKind, ApiError> {
    v.parse().map_err(|_| {
        let kinds: Vec<&str> = FindingKind::ALL.iter().map(|k| k.as_str()).collect();
        ApiError::bad_request(format!("unknown kind `{v}`; one of {}", kinds.join(", ")))
    })
}

fn parse_severity(v: &str) -> Result<Severity, ApiError> {
    v.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "unknown severity `{v}`; one of info, low, medium, high, critical"
        ))
    })
}

/// `since` as milliseconds since the epoch.
pub fn parse_since(v: &str, now_ms: u64) -> Result<u64, ApiError> {
    if let Ok(ms) = v.parse::<u64>() {
        return Ok(ms);
    }
    if let Ok(t) = humantime::parse_rfc3339_weak(v) {
        return t
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .map_err(|_| ApiError::bad_request("since is before 1970"));
    }
    if let Ok(ago) = humantime::parse_duration(v) {
        return Ok(now_ms.saturating_sub(ago.as_millis() as u64));
    }
    Err(ApiError::bad_request(format!(
        "since `{v}` is not milliseconds since the epoch, an RFC 3339 time (2026-11-22T10:00:00Z) or a duration ago (1h)"
    )))
}
