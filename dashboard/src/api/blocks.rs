//! `GET /api/blocks`, `POST /api/blocks`, `DELETE /api/blocks/{id}` and
//! `GET /api/audit`. Manual blocks and unblocks go through `Control`, which
//! stores them with an audit record (who, when, why) before the proxy enforces
//! them, so they reach the proxy at once and survive a restart.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use palisade_models::{Block, BlockOrigin, BlockScope, NewBlock};
use palisade_store::AuditRecord;

use super::{Actor, ApiError, Body, P, Q};
use crate::state::{AdminState, BlockRefused};

/// The longest manual block with a TTL; longer ones are written without a TTL.
const MAX_TTL: Duration = Duration::from_secs(365 * 24 * 3600);
/// The longest reason kept in the audit trail.
const MAX_REASON: usize = 500;

#[derive(Debug, Serialize)]
pub struct Blocks {
    items: Vec<Block>,
}

pub async fn list(State(s): State<AdminState>) -> Json<Blocks> {
    Json(Blocks {
        items: sorted(s.control.active_blocks()),
    })
}

fn sorted(blocks: Vec<Arc<Block>>) -> Vec<Block> {
    let mut v: Vec<Block> = blocks.iter().map(|b| (**b).clone()).collect();
    v.sort_by_key(|b| std::cmp::Reverse((b.created_ms, b.id)));
    v
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBlockRequest {
    /// ip, cidr, subject or api_key.
    scope: String,
    value: String,
    /// Seconds (a number) or a duration ("10m"); absent or null: until removed.
    #[serde(default)]
    ttl: Option<serde_json::Value>,
    #[serde(default)]
    reason: Option<String>,
}

pub async fn create(
    State(s): State<AdminState>,
    Actor(actor): Actor,
    Body(req): Body<NewBlockRequest>,
) -> Result<(StatusCode, Json<Block>), ApiError> {
    let scope = BlockScope::parse(req.scope.trim(), req.value.trim()).map_err(|e| {
        ApiError::bad_request(format!(
            "{e}; scope is one of ip, cidr, subject, api_key with a matching value"
        ))
    })?;
    if let BlockScope::Cidr(net) = &scope {
        let min = if net.addr().is_ipv4() { 8 } else { 24 };
        if net.prefix_len() < min {
            return Err(ApiError::bad_request(format!(
                "{net} is too broad to block (at least /{min}): it would refuse most of the Internet"
            )));
        }
    }
    let ttl = req.ttl.as_ref().map(parse_ttl).transpose()?.flatten();
    let reason = reason_or(req.reason, "manual block")?;
    if s.control.allowlisted(&scope) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "allowlisted",
            BlockRefused::Allowlisted(scope.to_string()).to_string(),
        ));
    }
    let now = s.clock.now_ms();
    let new = NewBlock {
        scope,
        reason: reason.into(),
        origin: BlockOrigin::Manual,
        created_ms: now,
        expires_ms: ttl.map(|t| now + t.as_millis() as u64),
        finding: None,
    };
    let control = s.control.clone();
    let block = tokio::task::spawn_blocking(move || control.block(new, &actor))
        .await
        .map_err(|e| ApiError::internal("storing the block", e))?
        .map_err(|e| match e {
            BlockRefused::Allowlisted(_) => {
                ApiError::new(StatusCode::CONFLICT, "allowlisted", e.to_string())
            }
        })?;
    Ok((StatusCode::CREATED, Json(block)))
}

/// The reason an operator gave (trimmed, at most `MAX_REASON` characters), or
/// `default` when none.
fn reason_or(given: Option<String>, default: &str) -> Result<String, ApiError> {
    let given = given.unwrap_or_default();
    let reason = given.trim();
    if reason.chars().count() > MAX_REASON {
        return Err(ApiError::bad_request(format!(
            "reason is longer than {MAX_REASON} characters"
        )));
    }
    Ok(if reason.is_empty() { default } else { reason }.to_string())
}

/// A TTL: a positive number of seconds, or a duration; None = until removed.
fn parse_ttl(v: &serde_json::Value) -> Result<Option<Duration>, ApiError> {
    let d = match v {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::Number(n) => {
            let secs = n.as_f64().unwrap_or(-1.0);
            if !(secs > 0.0 && secs.is_finite()) {
                return Err(ApiError::bad_request(format!(
                    "ttl {n} must be a positive number of seconds (or null for a block until removed)"
                )));
            }
            Duration::from_secs_f64(secs.min(MAX_TTL.as_secs_f64()))
        }
        serde_json::Value::String(t) if t.trim().is_empty() => return Ok(None),
        serde_json::Value::String(t) => {
            let d = humantime::parse_duration(t.trim()).map_err(|e| {
                ApiError::bad_request(format!(
                    "ttl `{t}` is not a duration ({e}); write e.g. \"10m\", \"2h\" or a number of seconds"
                ))
            })?;
            if d.is_zero() {
                return Err(ApiError::bad_request("ttl must be longer than zero"));
            }
            d
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "ttl must be a number of seconds or a duration string, not {other}"
            )));
        }
    };
    Ok(Some(d.min(MAX_TTL)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveQuery {
    reason: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Removed {
    removed: Block,
}

pub async fn remove(
    State(s): State<AdminState>,
    Actor(actor): Actor,
    P(id): P<String>,
    Q(q): Q<RemoveQuery>,
) -> Result<Json<Removed>, ApiError> {
    let id: u64 = id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("`{id}` is not a block id (a number)")))?;
    let reason = reason_or(q.reason, "removed by an operator")?;
    let control = s.control.clone();
    let removed = tokio::task::spawn_blocking(move || control.unblock(id, &actor, &reason))
        .await
        .map_err(|e| ApiError::internal("removing the block", e))?;
    match removed {
        Some(removed) => Ok(Json(Removed { removed })),
        None => Err(ApiError::not_found(format!(
            "no block {id} in force (it may have expired; GET /api/blocks lists them)"
        ))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    limit: Option<usize>,
}

#[derive(Debug, Serialize)]
pub struct Audit {
    items: Vec<AuditRecord>,
}

pub async fn audit(
    State(s): State<AdminState>,
    Q(q): Q<AuditQuery>,
) -> Result<Json<Audit>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be 1 to 1000"));
    }
    Ok(Json(Audit {
        items: s.store.audit(limit)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ttls_are_positive_seconds_or_durations() {
        assert_eq!(
            parse_ttl(&json!(600)).unwrap(),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            parse_ttl(&json!("10m")).unwrap(),
            Some(Duration::from_secs(600))
        );
        assert_eq!(parse_ttl(&json!(null)).unwrap(), None);
        assert_eq!(parse_ttl(&json!("")).unwrap(), None);
        assert_eq!(parse_ttl(&json!(1e12)).unwrap(), Some(MAX_TTL));
        for bad in [json!(-5), json!(0), json!("0s"), json!("soon"), json!(true)] {
            assert!(parse_ttl(&bad).is_err(), "{bad}");
        }
    }
}
