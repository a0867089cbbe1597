//! Owns the per-client feature vectors the client-behaviour model is fitted on,
//! computed from the event window with polars (not from the streaming per-client
//! state, which stays small): how fast, how wide, how often refused, how many
//! objects, how much writing, how machine-regular, how heavy.
//!
//! Must not scale or judge the features: `model` does.

use polars::prelude::*;

use palisade_models::ClientName;

use crate::baselines::{f64s, u32s, u64s};
use crate::frame::Frame;

/// Number of features.
pub const N: usize = 8;

/// The features, in vector order; findings name them by these.
pub const NAMES: [&str; N] = [
    "rate_per_min",
    "distinct_endpoints",
    "error_ratio",
    "auth_failure_ratio",
    "distinct_objects",
    "write_share",
    "timing_regularity",
    "bytes_per_request",
];

/// Features counted in units (rates, counts, bytes) are heavy-tailed; the model
/// sees `ln(1 + x)` of them so that one huge client does not flatten the rest.
pub const LOG_SCALED: [bool; N] = [true, true, false, false, true, false, false, true];

/// Clients with their features, row by row.
#[derive(Debug, Default, Clone)]
pub struct ClientFeatures {
    pub clients: Vec<ClientName>,
    /// Requests of each client in the window.
    pub requests: Vec<u64>,
    /// The raw feature values (before `LOG_SCALED` and standardisation).
    pub values: Vec<[f64; N]>,
}

impl ClientFeatures {
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

/// The features of every client with at least `min_requests` requests.
///
/// * `rate_per_min`: requests per minute between its first and last request
///   (at least one minute);
/// * `distinct_endpoints`, `distinct_objects`: endpoints, and paths of templated
///   endpoints (object ids), it reached;
/// * `error_ratio`: share answered 4xx/5xx other than 401/403;
///   `auth_failure_ratio`: share answered 401/403 (failed logins excluded);
/// * `write_share`: share of POST, PUT, PATCH, DELETE;
/// * `timing_regularity`: coefficient of variation of the gaps between its
///   requests (1 for a Poisson stream; near 0 for a metronome; 1 when it has
///   fewer than three gaps);
/// * `bytes_per_request`: mean of request plus response body bytes.
pub fn compute(frame: &Frame, min_requests: u32) -> PolarsResult<ClientFeatures> {
    let gap = col("ts_us") - col("ts_us").shift(lit(1));
    let same = col("client").eq(col("client").shift(lit(1)));
    let df = frame
        .df
        .clone()
        .lazy()
        .select([
            col("client"),
            col("ts_us"),
            col("endpoint"),
            col("status"),
            col("auth_failure"),
            col("object"),
            col("write"),
            col("bytes"),
        ])
        .sort(["client", "ts_us"], SortMultipleOptions::default())
        .with_column(
            when(same)
                .then(gap.cast(DataType::Float64))
                .otherwise(lit(NULL).cast(DataType::Float64))
                .alias("gap"),
        )
        .group_by([col("client")])
        .agg([
            len().alias("requests"),
            col("ts_us").min().alias("first"),
            col("ts_us").max().alias("last"),
            col("endpoint").drop_nulls().n_unique().alias("endpoints"),
            col("status")
                .gt_eq(lit(400))
                .and(col("auth_failure").not())
                .cast(DataType::Float64)
                .mean()
                .alias("errors"),
            col("auth_failure")
                .cast(DataType::Float64)
                .mean()
                .alias("auth"),
            col("object").drop_nulls().n_unique().alias("objects"),
            col("write").cast(DataType::Float64).mean().alias("writes"),
            col("gap").mean().alias("gap_mean"),
            col("gap").std(1).alias("gap_std"),
            col("gap").count().alias("gaps"),
            col("bytes").cast(DataType::Float64).mean().alias("bytes"),
        ])
        .filter(col("requests").gt_eq(lit(min_requests)))
        .sort(["client"], SortMultipleOptions::default())
        .collect()?;
    let ids = u32s(&df, "client")?;
    let requests = u64s(&df, "requests")?;
    let (first, last) = (u64s(&df, "first")?, u64s(&df, "last")?);
    let endpoints = f64s(&df, "endpoints")?;
    let errors = f64s(&df, "errors")?;
    let auth = f64s(&df, "auth")?;
    let objects = f64s(&df, "objects")?;
    let writes = f64s(&df, "writes")?;
    let (gap_mean, gap_std, gaps) = (
        f64s(&df, "gap_mean")?,
        f64s(&df, "gap_std")?,
        u64s(&df, "gaps")?,
    );
    let bytes = f64s(&df, "bytes")?;
    let mut out = ClientFeatures::default();
    for i in 0..ids.len() {
        let Some(name) = frame.clients.get(ids[i] as usize) else {
            continue;
        };
        let minutes = ((last[i].saturating_sub(first[i])) as f64 / 60e6).max(1.0);
        let regularity = if gaps[i] >= 3 && gap_mean[i] > 0.0 {
            gap_std[i] / gap_mean[i]
        } else {
            1.0
        };
        out.clients.push(name.clone());
        out.requests.push(requests[i]);
        out.values.push([
            requests[i] as f64 / minutes,
            endpoints[i],
            errors[i],
            auth[i],
            objects[i],
            writes[i],
            regularity,
            bytes[i],
        ]);
    }
    Ok(out)
}
