//! `GET /api/endpoints` (the inventory with baselines, declared vs discovered,
//! and, with an OpenAPI spec, each endpoint's drift and the spec's unused
//! operations) and `GET /api/stats`.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use palisade_models::EndpointInfo;
use palisade_openapi::{DriftStatus, UnusedOperation};

use super::ApiError;
use crate::state::AdminState;
use crate::stats::StatsView;

#[derive(Debug, Serialize)]
pub struct Endpoint {
    #[serde(flatten)]
    info: EndpointInfo,
    /// Seen in traffic but declared nowhere: with a spec, not in it and
    /// answered by the service with non-404; without, not in the config.
    shadow: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    drift: Option<DriftStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    operation_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    undeclared_params: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Endpoints {
    items: Vec<Endpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    spec: Option<SpecSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unused: Option<Vec<UnusedOperation>>,
}

#[derive(Debug, Serialize)]
pub struct SpecSummary {
    title: String,
    operations: usize,
    shadow: usize,
    zombie: usize,
    unused: usize,
}

pub async fn endpoints(State(s): State<AdminState>) -> Result<Json<Endpoints>, ApiError> {
    let live = s.live.load();
    // Before the worker's first view (or with analytics off), the stored inventory.
    let list = if live.at_ms > 0 {
        live.endpoints.clone()
    } else {
        s.store.endpoints()?
    };
    let Some(view) = s.control.spec() else {
        let items = list
            .into_iter()
            .map(|info| Endpoint {
                shadow: !info.declared,
                info,
                drift: None,
                operation_id: None,
                undeclared_params: Vec::new(),
            })
            .collect();
        return Ok(Json(Endpoints {
            items,
            spec: None,
            unused: None,
        }));
    };
    let spec = view.spec;
    let since = s.clock.now_ms().saturating_sub(view.window_ms);
    let drift = palisade_openapi::drift(&spec, &list, since);
    let summary = SpecSummary {
        title: spec.title.clone(),
        operations: spec.operations.len(),
        shadow: drift.with(DriftStatus::Shadow).count(),
        zombie: drift.with(DriftStatus::Zombie).count(),
        unused: drift.unused.len(),
    };
    let items = list
        .into_iter()
        .zip(drift.entries)
        .map(|(info, d)| Endpoint {
            shadow: d.status == DriftStatus::Shadow,
            info,
            drift: Some(d.status),
            operation_id: d.operation_id,
            undeclared_params: d.undeclared_params,
        })
        .collect();
    Ok(Json(Endpoints {
        items,
        spec: Some(summary),
        unused: Some(drift.unused),
    }))
}

pub async fn stats(State(s): State<AdminState>) -> Json<StatsView> {
    let c = s.control.counters();
    Json(s.stats.view(&s, &c, true))
}
