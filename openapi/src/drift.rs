//! Owns drift: the endpoint inventory (what traffic shows) against the spec
//! (what the service declares). Each inventory template is in the spec, a
//! zombie (its operation is deprecated and still called), a shadow (not in the
//! spec, and the service answered it with something other than 404) or merely
//! probed (not in the spec, only 404s); each operation nobody called in the
//! window is unused; parameters sent that the operation does not declare are
//! listed per endpoint.
//!
//! Must not read the store or the clock: callers pass the inventory and `since`.

use palisade_models::EndpointInfo;
use serde::Serialize;

use crate::Spec;

/// How one inventory endpoint stands against the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftStatus {
    InSpec,
    /// In the spec, deprecated, still called.
    Zombie,
    /// Not in the spec, answered by the service with non-404 responses.
    Shadow,
    /// Not in the spec, and the service only ever said 404.
    Probed,
}

impl DriftStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftStatus::InSpec => "in_spec",
            DriftStatus::Zombie => "zombie",
            DriftStatus::Shadow => "shadow",
            DriftStatus::Probed => "probed",
        }
    }
}

/// One inventory endpoint, classified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftEntry {
    pub method: String,
    pub template: String,
    pub status: DriftStatus,
    /// The operation it matched, when in the spec.
    pub operation_id: Option<String>,
    pub requests: u64,
    pub last_seen_ms: u64,
    /// Parameters seen in traffic the operation does not declare (`query.x`,
    /// `body/x`); for endpoints not in the spec, every parameter seen.
    pub undeclared_params: Vec<String>,
}

/// An operation no request reached in the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnusedOperation {
    pub method: String,
    pub path: String,
    pub operation_id: Option<String>,
    pub deprecated: bool,
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Drift {
    pub entries: Vec<DriftEntry>,
    pub unused: Vec<UnusedOperation>,
}

impl Drift {
    /// The entries with `status`.
    pub fn with(&self, status: DriftStatus) -> impl Iterator<Item = &DriftEntry> {
        self.entries.iter().filter(move |e| e.status == status)
    }
}

/// Compares `inventory` with `spec`, counting as used the operations called
/// at or after `since_ms`.
pub fn drift(spec: &Spec, inventory: &[EndpointInfo], since_ms: u64) -> Drift {
    // One router per method, as the proxy routes. A template is matched as if
    // it were a path: its `{param}` segments match the spec's parameters.
    let mut routers: Vec<(&http::Method, matchit::Router<usize>)> = Vec::new();
    for (i, op) in spec.operations.iter().enumerate() {
        let at = match routers.iter().position(|(m, _)| **m == op.method) {
            Some(at) => at,
            None => {
                routers.push((&op.method, matchit::Router::new()));
                routers.len() - 1
            }
        };
        // A spec the proxy could not route was refused at load; skip quietly.
        let _ = routers[at].1.insert(op.path.clone(), i);
    }
    let mut used = vec![false; spec.operations.len()];
    let mut entries = Vec::with_capacity(inventory.len());
    for e in inventory {
        let matched = routers
            .iter()
            .find(|(m, _)| m.as_str() == &*e.method)
            .and_then(|(_, r)| r.at(&e.template).ok())
            .map(|m| *m.value);
        let (status, operation_id, undeclared_params) = match matched {
            Some(i) => {
                let op = &spec.operations[i];
                if e.last_seen_ms >= since_ms && e.requests > 0 {
                    used[i] = true;
                }
                let status = if op.deprecated && e.last_seen_ms >= since_ms {
                    DriftStatus::Zombie
                } else {
                    DriftStatus::InSpec
                };
                let undeclared = e
                    .params_seen
                    .iter()
                    .filter(|p| match p.strip_prefix("query.") {
                        Some(q) => !op.declares_query(q),
                        // Body fields are only recorded when undeclared.
                        None => true,
                    })
                    .map(|p| p.to_string())
                    .collect();
                (status, op.operation_id.clone(), undeclared)
            }
            None => {
                let status = if e.upstream_answered > 0 {
                    DriftStatus::Shadow
                } else {
                    DriftStatus::Probed
                };
                let all = e.params_seen.iter().map(|p| p.to_string()).collect();
                (status, None, all)
            }
        };
        entries.push(DriftEntry {
            method: e.method.to_string(),
            template: e.template.to_string(),
            status,
            operation_id,
            requests: e.requests,
            last_seen_ms: e.last_seen_ms,
            undeclared_params,
        });
    }
    let unused = spec
        .operations
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(op, _)| UnusedOperation {
            method: op.method.to_string(),
            path: op.path.clone(),
            operation_id: op.operation_id.clone(),
            deprecated: op.deprecated,
        })
        .collect();
    Drift { entries, unused }
}
