//! Owns `EndpointInfo`: one entry of the endpoint inventory (a method and a path
//! template, declared in config or discovered from traffic), as the analytics worker
//! keeps it, the store persists it and the admin API lists it.

use serde::{Deserialize, Serialize};

/// One endpoint of the inventory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointInfo {
    pub method: Box<str>,
    /// `/api/users/{id}`: a declared route's template, or one learned from paths.
    pub template: Box<str>,
    /// True when a declared route matched; false when learned from traffic.
    pub declared: bool,
    /// Milliseconds since the Unix epoch.
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    /// Requests seen in all.
    pub requests: u64,
    /// Responses by status class: 1xx, 2xx, 3xx, 4xx, 5xx (index 0 to 4).
    pub status_classes: [u64; 5],
    /// 401, 403 and 404 responses.
    pub unauthorized: u64,
    pub forbidden: u64,
    pub not_found: u64,
    /// Requests by credential: none, a verified JWT, a verified API key.
    pub auth_none: u64,
    pub auth_jwt: u64,
    pub auth_api_key: u64,
    /// Requests per second, as exponentially weighted averages over about one
    /// minute, ten minutes and one hour.
    pub rate_1m: f64,
    pub rate_10m: f64,
    pub rate_1h: f64,
    /// Latency of the last complete window, in microseconds.
    pub latency_p50_us: u64,
    pub latency_p95_us: u64,
    pub latency_p99_us: u64,
    /// Average response body size, in bytes.
    pub bytes_out_avg: f64,
    /// Requests by latency since first seen, one count per bucket of
    /// `LATENCY_BUCKETS_US` and a last one for slower (not cumulative).
    #[serde(default)]
    pub latency_counts: Vec<u64>,
    /// The sum of all latencies counted, in microseconds.
    #[serde(default)]
    pub latency_sum_us: u64,
    /// Responses the service itself gave (not a Palisade denial) other than
    /// 404: an undeclared endpoint with any is a shadow endpoint.
    #[serde(default)]
    pub upstream_answered: u64,
    /// Parameter names seen in traffic, at most `PARAMS_SEEN_MAX`: every query
    /// parameter name (`query.page`) and every body property the OpenAPI
    /// operation does not declare (`body/role`). Names only, never values.
    #[serde(default)]
    pub params_seen: Vec<Box<str>>,
}

/// Most parameter names an endpoint remembers.
pub const PARAMS_SEEN_MAX: usize = 32;

impl EndpointInfo {
    /// `GET /api/users/{id}`: how findings and logs name the endpoint.
    pub fn name(&self) -> String {
        format!("{} {}", self.method, self.template)
    }
}
