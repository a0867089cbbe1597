//! Owns `/api/export`: events (from the rolling segments and the in-memory window)
//! or findings (from the store) between two times, downloaded as one Parquet file
//! that polars, pandas and DuckDB read; the same export as `palisade export`.
//! Also the parsing of its times, shared with that command.
//!
//! Must not build the file itself: the sidecar does (`Control::export`, crate
//! `palisade-batch`), off the async runtime.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use palisade_models::FindingKind;
use serde::Deserialize;

use super::{ApiError, Q};
use crate::state::{AdminState, Export, ExportError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `events` (default) or `findings`.
    data: Option<String>,
    /// A duration ago (`1h`) or an RFC 3339 time; default 1h.
    since: Option<String>,
    /// The same; default now.
    until: Option<String>,
    /// Finding kinds, comma-separated (findings only).
    kind: Option<String>,
}

/// A time as `palisade export` and `/api/export` take it: a duration before
/// `now_ms` (`90s`, `1h`, `2d`), an RFC 3339 time (`2026-11-30T08:00:00Z`), or
/// milliseconds since the epoch.
pub fn parse_time(s: &str, now_ms: u64) -> Result<u64, String> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<u64>() {
        return Ok(ms);
    }
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(now_ms.saturating_sub(d.as_millis() as u64));
    }
    humantime::parse_rfc3339_weak(s)
        .map(palisade_models::unix_ms)
        .map_err(|_| {
            format!("`{s}` is not a time: write a duration ago such as 1h, or a time such as 2026-11-30T08:00:00Z")
        })
}

/// Finding kinds, comma-separated.
pub fn parse_kinds(s: &str) -> Result<Vec<FindingKind>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::parse)
        .collect()
}

pub async fn export(
    State(s): State<AdminState>,
    Q(q): Q<ExportQuery>,
) -> Result<Response, ApiError> {
    let now = s.clock.now_ms();
    let since =
        parse_time(q.since.as_deref().unwrap_or("1h"), now).map_err(ApiError::bad_request)?;
    let until = match &q.until {
        Some(u) => parse_time(u, now).map_err(ApiError::bad_request)?,
        // Now included.
        None => now + 1,
    };
    if since >= until {
        return Err(ApiError::bad_request("since must be before until"));
    }
    let (what, name) = match q.data.as_deref().unwrap_or("events") {
        "events" => {
            if q.kind.is_some() {
                return Err(ApiError::bad_request(
                    "kind selects findings: add data=findings",
                ));
            }
            (
                Export::Events {
                    since_ms: since,
                    until_ms: until,
                },
                "events",
            )
        }
        "findings" => (
            Export::Findings {
                since_ms: since,
                until_ms: until,
                kinds: parse_kinds(q.kind.as_deref().unwrap_or(""))
                    .map_err(ApiError::bad_request)?,
            },
            "findings",
        ),
        other => {
            return Err(ApiError::bad_request(format!(
                "data `{other}` is not events or findings"
            )));
        }
    };
    let file = s.control.export(what).await.map_err(|e| match e {
        ExportError::Unavailable(m) => ApiError::new(StatusCode::NOT_IMPLEMENTED, "unavailable", m),
        ExportError::Failed(m) => ApiError::internal("the export", m),
    })?;
    let disposition = format!("attachment; filename=\"palisade-{name}-{since}-{until}.parquet\"");
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/vnd.apache.parquet"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
            (
                header::HeaderName::from_static("x-palisade-rows"),
                HeaderValue::from(file.rows),
            ),
        ],
        file.bytes,
    )
        .into_response())
}
