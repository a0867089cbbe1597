//! Owns the robust baselines over the event window, computed with polars' lazy
//! API: per endpoint (requests per bucket, latency, failure ratios, and the same
//! by hour of day) and per client (requests per client window, latency, failure
//! ratios). Robust statistics (median, MAD, p95, p99) rather than mean and σ: the
//! window may hold an attack, and a median is not dragged by it.
//!
//! Rates count the buckets (or client windows) in which the endpoint (or client)
//! had traffic: an idle bucket is absent from the window, not a zero.
//!
//! Must not touch the worker's state: it reads a `Frame` and returns values.

use hashbrown::HashMap;
use polars::prelude::*;

use palisade_analytics::batch::{ClientBaseline, EndpointBaseline, HourBaseline, Robust};
use palisade_models::ClientName;

use crate::frame::Frame;

const HOUR_US: i64 = 3_600_000_000;
const DAY_US: i64 = 24 * HOUR_US;

/// What the baselines are measured in.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// The endpoint bucket (`analytics.endpoint_bucket`), µs.
    pub bucket_us: i64,
    /// The client window (`analytics.client_window`), µs.
    pub client_window_us: i64,
}

/// Every baseline of one run.
#[derive(Debug, Default)]
pub struct Baselines {
    pub endpoints: HashMap<Box<str>, EndpointBaseline>,
    pub clients: HashMap<ClientName, ClientBaseline>,
}

/// Median, MAD, p95 and p99 of `c`, as `{p}_median`, `{p}_mad`, `{p}_p95`,
/// `{p}_p99`; works per group in an aggregation.
fn robust(c: &str, p: &str) -> [Expr; 4] {
    let x = col(c).cast(DataType::Float64);
    [
        x.clone().median().alias(format!("{p}_median")),
        (x.clone() - x.clone().median())
            .abs()
            .median()
            .alias(format!("{p}_mad")),
        x.clone()
            .quantile(lit(0.95), QuantileMethod::Linear)
            .alias(format!("{p}_p95")),
        x.quantile(lit(0.99), QuantileMethod::Linear)
            .alias(format!("{p}_p99")),
    ]
}

fn share(pred: Expr, name: &str) -> Expr {
    pred.cast(DataType::Float64).mean().alias(name)
}

fn status_in(codes: &[i32]) -> Expr {
    codes
        .iter()
        .map(|c| col("status").eq(lit(*c)))
        .reduce(|a, b| a.or(b))
        .unwrap_or(lit(false))
}

/// Computes every baseline of `frame`.
pub fn compute(frame: &Frame, s: &Settings) -> PolarsResult<Baselines> {
    let lf = frame.df.clone().lazy().with_columns([
        (col("ts_us") - col("ts_us") % lit(s.bucket_us)).alias("bucket"),
        (col("ts_us") - col("ts_us") % lit(s.client_window_us)).alias("win"),
        ((col("ts_us") % lit(DAY_US)) - (col("ts_us") % lit(HOUR_US))).alias("hour"),
    ]);
    let eps = lf.clone().filter(col("endpoint").is_not_null());

    // Per endpoint: rate over buckets, and latency and failures over requests.
    let per_bucket = eps
        .clone()
        .group_by([col("endpoint"), col("hour"), col("bucket")])
        .agg([len().alias("n")]);
    let mut rate_aggs = robust("n", "rate").to_vec();
    rate_aggs.push(len().alias("buckets"));
    let rates = per_bucket
        .clone()
        .group_by([col("endpoint")])
        .agg(rate_aggs.clone())
        .collect()?;
    let mut req_aggs = robust("latency_us", "lat").to_vec();
    req_aggs.extend([
        len().alias("requests"),
        share(col("status").gt_eq(lit(400)), "failure"),
        share(status_in(&[401, 403]), "auth_failure"),
        share(col("server_error"), "server_error"),
    ]);
    let requests = eps
        .clone()
        .group_by([col("endpoint")])
        .agg(req_aggs)
        .collect()?;
    let hour_rates = per_bucket
        .group_by([col("endpoint"), col("hour")])
        .agg(rate_aggs)
        .collect()?;
    let hour_lat = eps
        .group_by([col("endpoint"), col("hour")])
        .agg(robust("latency_us", "lat"))
        .collect()?;

    // Per client.
    let mut client_rate_aggs = robust("n", "rate").to_vec();
    client_rate_aggs.push(len().alias("windows"));
    let client_rates = lf
        .clone()
        .group_by([col("client"), col("win")])
        .agg([len().alias("n")])
        .group_by([col("client")])
        .agg(client_rate_aggs)
        .collect()?;
    let mut client_aggs = robust("latency_us", "lat").to_vec();
    client_aggs.extend([
        len().alias("requests"),
        share(col("status").gt_eq(lit(400)), "failure"),
        share(col("auth_failure"), "auth_failure"),
    ]);
    let client_reqs = lf.group_by([col("client")]).agg(client_aggs).collect()?;

    let mut out = Baselines::default();
    let ep_name = |id: u32| frame.endpoints.get(id as usize).cloned();
    let ids = u32s(&requests, "endpoint")?;
    let n = u64s(&requests, "requests")?;
    let lat = robusts(&requests, "lat")?;
    let (failure, auth, server) = (
        f64s(&requests, "failure")?,
        f64s(&requests, "auth_failure")?,
        f64s(&requests, "server_error")?,
    );
    for i in 0..ids.len() {
        let Some(name) = ep_name(ids[i]) else {
            continue;
        };
        out.endpoints.insert(
            name,
            EndpointBaseline {
                requests: n[i],
                latency_us: lat[i],
                failure_ratio: failure[i],
                auth_failure_ratio: auth[i],
                server_error_ratio: server[i],
                ..EndpointBaseline::default()
            },
        );
    }
    let ids = u32s(&rates, "endpoint")?;
    let rate = robusts(&rates, "rate")?;
    let buckets = u64s(&rates, "buckets")?;
    for i in 0..ids.len() {
        if let Some(e) = ep_name(ids[i]).and_then(|n| out.endpoints.get_mut(&n)) {
            e.rate = rate[i];
            e.buckets = buckets[i] as u32;
        }
    }
    let mut hours: HashMap<(u32, u8), HourBaseline> = HashMap::new();
    let (ids, hour) = (u32s(&hour_rates, "endpoint")?, u64s(&hour_rates, "hour")?);
    let (rate, buckets) = (robusts(&hour_rates, "rate")?, u64s(&hour_rates, "buckets")?);
    for i in 0..ids.len() {
        let h = (hour[i] / HOUR_US as u64) as u8;
        hours.insert(
            (ids[i], h),
            HourBaseline {
                hour: h,
                buckets: buckets[i] as u32,
                rate: rate[i],
                latency_us: Robust::default(),
            },
        );
    }
    let (ids, hour) = (u32s(&hour_lat, "endpoint")?, u64s(&hour_lat, "hour")?);
    let lat = robusts(&hour_lat, "lat")?;
    for i in 0..ids.len() {
        let h = (hour[i] / HOUR_US as u64) as u8;
        if let Some(b) = hours.get_mut(&(ids[i], h)) {
            b.latency_us = lat[i];
        }
    }
    for ((id, _), h) in hours {
        if let Some(e) = ep_name(id).and_then(|n| out.endpoints.get_mut(&n)) {
            e.by_hour.push(h);
        }
    }
    for e in out.endpoints.values_mut() {
        e.by_hour.sort_by_key(|h| h.hour);
    }

    let ids = u32s(&client_reqs, "client")?;
    let n = u64s(&client_reqs, "requests")?;
    let lat = robusts(&client_reqs, "lat")?;
    let (failure, auth) = (
        f64s(&client_reqs, "failure")?,
        f64s(&client_reqs, "auth_failure")?,
    );
    let mut by_id: HashMap<u32, ClientBaseline> = HashMap::with_capacity(ids.len());
    for i in 0..ids.len() {
        by_id.insert(
            ids[i],
            ClientBaseline {
                requests: n[i],
                latency_us: lat[i],
                failure_ratio: failure[i],
                auth_failure_ratio: auth[i],
                ..ClientBaseline::default()
            },
        );
    }
    let ids = u32s(&client_rates, "client")?;
    let rate = robusts(&client_rates, "rate")?;
    for i in 0..ids.len() {
        if let Some(c) = by_id.get_mut(&ids[i]) {
            c.rate = rate[i];
        }
    }
    out.clients = by_id
        .into_iter()
        .filter_map(|(id, b)| Some((frame.clients.get(id as usize)?.clone(), b)))
        .collect();
    Ok(out)
}

fn series(df: &DataFrame, name: &str, dtype: &DataType) -> PolarsResult<Series> {
    df.column(name)?.as_materialized_series().cast(dtype)
}

pub(crate) fn f64s(df: &DataFrame, name: &str) -> PolarsResult<Vec<f64>> {
    let s = series(df, name, &DataType::Float64)?;
    Ok(s.f64()?.iter().map(|v| v.unwrap_or(0.0)).collect())
}

pub(crate) fn u64s(df: &DataFrame, name: &str) -> PolarsResult<Vec<u64>> {
    let s = series(df, name, &DataType::UInt64)?;
    Ok(s.u64()?.iter().map(|v| v.unwrap_or(0)).collect())
}

pub(crate) fn u32s(df: &DataFrame, name: &str) -> PolarsResult<Vec<u32>> {
    let s = series(df, name, &DataType::UInt32)?;
    Ok(s.u32()?.iter().map(|v| v.unwrap_or(u32::MAX)).collect())
}

fn robusts(df: &DataFrame, p: &str) -> PolarsResult<Vec<Robust>> {
    let median = f64s(df, &format!("{p}_median"))?;
    let mad = f64s(df, &format!("{p}_mad"))?;
    let p95 = f64s(df, &format!("{p}_p95"))?;
    let p99 = f64s(df, &format!("{p}_p99"))?;
    Ok((0..median.len())
        .map(|i| Robust {
            median: median[i],
            mad: mad[i],
            p95: p95[i],
            p99: p99[i],
        })
        .collect())
}

#[cfg(test)]
mod tests;
