//! Owns `/api/siem`: the sinks (depth, deliveries, retries, health, last error) and
//! the outbox's fill, and `/api/siem/dead-letters`, the records receivers refused
//! as malformed, kept with the reason.

use axum::Json;
use axum::extract::State;
use palisade_models::SiemStatus;
use palisade_store::DeadLetter;
use serde::{Deserialize, Serialize};

use super::{ApiError, Q};
use crate::state::AdminState;

#[derive(Debug, Serialize)]
pub struct Siem {
    #[serde(flatten)]
    status: SiemStatus,
    /// Dead letters kept (all sinks).
    dead_letters: u64,
}

pub async fn status(State(s): State<AdminState>) -> Result<Json<Siem>, ApiError> {
    Ok(Json(Siem {
        status: s.control.siem(),
        dead_letters: s.store.count_dead_letters()?,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadQuery {
    sink: Option<String>,
    limit: Option<usize>,
}

#[derive(Debug, Serialize)]
pub struct DeadLetters {
    items: Vec<DeadLetter>,
}

pub async fn dead_letters(
    State(s): State<AdminState>,
    Q(q): Q<DeadQuery>,
) -> Result<Json<DeadLetters>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be 1 to 1000"));
    }
    Ok(Json(DeadLetters {
        items: s.store.dead_letters(q.sink.as_deref(), limit)?,
    }))
}
