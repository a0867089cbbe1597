//! `GET /api/endpoints` (the inventory with baselines, declared vs discovered) and
//! `GET /api/stats`.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use palisade_models::EndpointInfo;

use super::ApiError;
use crate::state::AdminState;
use crate::stats::StatsView;

#[derive(Debug, Serialize)]
pub struct Endpoint {
    #[serde(flatten)]
    info: EndpointInfo,
    /// Seen in traffic but not declared in the config: a shadow endpoint.
    shadow: bool,
}

#[derive(Debug, Serialize)]
pub struct Endpoints {
    items: Vec<Endpoint>,
}

pub async fn endpoints(State(s): State<AdminState>) -> Result<Json<Endpoints>, ApiError> {
    let live = s.live.load();
    // Before the worker's first view (or with analytics off), the stored inventory.
    let list = if live.at_ms > 0 {
        live.endpoints.clone()
    } else {
        s.store.endpoints()?
    };
    let items = list
        .into_iter()
        .map(|info| Endpoint {
            shadow: !info.declared,
            info,
        })
        .collect();
    Ok(Json(Endpoints { items }))
}

pub async fn stats(State(s): State<AdminState>) -> Json<StatsView> {
    let c = s.control.counters();
    Json(s.stats.view(&s, &c, true))
}
