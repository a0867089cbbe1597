//! Owns the client-behaviour model: fitting it over the clients' feature vectors,
//! scoring clients against it, and its persisted form.
//!
//! **Why KMeans and not a Gaussian mixture.** Most features are ratios that are
//! exactly zero for most clients (no errors, no writes): their covariance is
//! singular, which a GMM's per-cluster covariance cannot invert without an ad-hoc
//! regulariser, and its likelihoods then mean little. KMeans needs no covariance;
//! with a per-cluster radius measured on the cluster's own members it says how
//! far out a client is in units that cluster has shown to be normal, and the
//! per-feature squared deviations from the centre name, exactly, the features
//! that put it there, which is what an analyst reads. It is also cheap (k × d per
//! client and iteration) and deterministic (linfa's fixed-seed RNG).
//!
//! **Scoring.** Features are `ln(1 + x)`-scaled where heavy-tailed, then
//! standardised (mean and σ of the fitted population, σ floored per feature so
//! that a feature nearly constant among clients does not turn a small difference
//! into a huge one). Clusters holding less than `min_cluster_share` of the fitted
//! clients are not kept: a small group of alike outliers (a botnet, a scraper
//! fleet) forms its own cluster, and must not thereby become normal. A client's
//! score is its distance to the nearest kept centre over that cluster's radius
//! (median + 3 robust σ of its members' distances, at least one standardised
//! unit): above 1 is outside nearly all of the cluster's members.
//!
//! Must not read the window or the store: it sees features and returns verdicts.

use linfa::DatasetBase;
use linfa::traits::{Fit, Predict};
use linfa_clustering::KMeans;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use palisade_analytics::batch::{FeatureDeviation, UnusualClient};

use crate::BatchError;
use crate::features::{ClientFeatures, LOG_SCALED, N, NAMES};

/// The persisted form's version; a model of another version is refitted.
pub const MODEL_VERSION: u32 = 1;
/// At most this many clients are fitted on (an even sample of them); every client
/// is scored. Bounds the fit's time: about 0.1 s for this many on one core.
pub const MAX_FIT_CLIENTS: usize = 20_000;
/// At most this many unusual clients are reported per run, most unusual first.
pub const MAX_UNUSUAL: usize = 100;
/// Smallest σ each standardised feature is divided by, in its scaled units
/// (log units for counts, share for ratios).
const MIN_SCALE: [f64; N] = [0.25, 0.25, 0.05, 0.05, 0.25, 0.05, 0.1, 0.25];
/// A feature is named in a finding while the features named so far explain less
/// than this share of the client's squared distance, at most `MAX_NAMED`.
const EXPLAINED: f64 = 0.8;
const MAX_NAMED: usize = 3;

/// How the model is fitted.
#[derive(Debug, Clone, Copy)]
pub struct ModelSettings {
    /// KMeans' k.
    pub clusters: usize,
    /// Fewer clients than this in the window: no fit (the previous model stays).
    pub min_clients: usize,
    /// Clusters with less than this share of the clients are not kept.
    pub min_cluster_share: f64,
}

/// A fitted model, as persisted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientModel {
    pub version: u32,
    /// The feature names, in order; a model fitted on others is refitted.
    pub features: Vec<String>,
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
    /// The kept clusters' centres, standardised.
    pub centroids: Vec<Vec<f64>>,
    /// Each kept cluster's radius.
    pub radii: Vec<f64>,
    /// Each kept centre in raw feature units, for findings.
    pub typical: Vec<Vec<f64>>,
    /// Clients in each kept cluster when fitted.
    pub sizes: Vec<usize>,
    pub fitted_ms: u64,
    pub fitted_clients: usize,
}

fn scaled(raw: &[f64; N]) -> [f64; N] {
    let mut x = *raw;
    for (v, log) in x.iter_mut().zip(LOG_SCALED) {
        if log {
            *v = v.max(0.0).ln_1p();
        }
    }
    x
}

fn unscaled(x: &[f64]) -> Vec<f64> {
    x.iter()
        .zip(LOG_SCALED)
        .map(|(v, log)| if log { v.exp_m1() } else { *v })
        .collect()
}

fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

impl ClientModel {
    /// Fits a model on `f`; None when there are fewer than `min_clients`.
    pub fn fit(
        f: &ClientFeatures,
        s: &ModelSettings,
        now_ms: u64,
    ) -> Result<Option<ClientModel>, BatchError> {
        if f.len() < s.min_clients.max(2) {
            return Ok(None);
        }
        let step = f.len().div_ceil(MAX_FIT_CLIENTS);
        let rows: Vec<[f64; N]> = f.values.iter().step_by(step).map(scaled).collect();
        let n = rows.len();
        let mut mean = vec![0.0; N];
        let mut scale = vec![0.0; N];
        for r in &rows {
            for j in 0..N {
                mean[j] += r[j] / n as f64;
            }
        }
        for r in &rows {
            for j in 0..N {
                scale[j] += (r[j] - mean[j]).powi(2) / n as f64;
            }
        }
        for j in 0..N {
            scale[j] = scale[j].sqrt().max(MIN_SCALE[j]);
        }
        let mut x = Array2::<f64>::zeros((n, N));
        for (i, r) in rows.iter().enumerate() {
            for j in 0..N {
                x[[i, j]] = (r[j] - mean[j]) / scale[j];
            }
        }
        let k = s.clusters.clamp(1, n);
        let dataset = DatasetBase::from(x.clone());
        let km = KMeans::params(k)
            .n_runs(3)
            .max_n_iterations(100)
            .tolerance(1e-4)
            .fit(&dataset)
            .map_err(|e| BatchError::Model(e.to_string()))?;
        let member = km.predict(&x);
        let centres = km.centroids();
        let mut dists: Vec<Vec<f64>> = vec![Vec::new(); k];
        for (i, &c) in member.iter().enumerate() {
            let row = x.row(i);
            let d = dist2(
                row.as_slice().unwrap_or(&[]),
                centres.row(c).as_slice().unwrap_or(&[]),
            );
            dists[c].push(d.sqrt());
        }
        let largest = (0..k).max_by_key(|&c| dists[c].len()).unwrap_or(0);
        let mut model = ClientModel {
            version: MODEL_VERSION,
            features: NAMES.iter().map(|s| s.to_string()).collect(),
            mean,
            scale,
            centroids: Vec::new(),
            radii: Vec::new(),
            typical: Vec::new(),
            sizes: Vec::new(),
            fitted_ms: now_ms,
            fitted_clients: n,
        };
        for (c, d) in dists.iter_mut().enumerate() {
            let kept = d.len() as f64 >= s.min_cluster_share * n as f64 || c == largest;
            if !kept || d.is_empty() {
                continue;
            }
            let size = d.len();
            let med = median(d);
            let mut dev: Vec<f64> = d.iter().map(|v| (v - med).abs()).collect();
            let mad = median(&mut dev);
            let centre: Vec<f64> = centres.row(c).iter().copied().collect();
            let raw: Vec<f64> = centre
                .iter()
                .enumerate()
                .map(|(j, z)| z * model.scale[j] + model.mean[j])
                .collect();
            model.typical.push(unscaled(&raw));
            model.centroids.push(centre);
            model.radii.push((med + 3.0 * 1.4826 * mad).max(1.0));
            model.sizes.push(size);
        }
        Ok(Some(model))
    }

    /// Whether this model was fitted on the features this build computes.
    pub fn compatible(&self) -> bool {
        self.version == MODEL_VERSION
            && self.features.iter().map(String::as_str).eq(NAMES)
            && self.centroids.len() == self.radii.len()
            && self.centroids.len() == self.typical.len()
            && !self.centroids.is_empty()
            && self.centroids.iter().all(|c| c.len() == N)
    }

    /// Every client of `f` scoring at least `min_score`, most unusual first, at
    /// most `MAX_UNUSUAL`.
    pub fn unusual(&self, f: &ClientFeatures, min_score: f64) -> Vec<UnusualClient> {
        let mut out: Vec<UnusualClient> = (0..f.len())
            .filter_map(|i| {
                let (score, cluster, z) = self.score_one(&f.values[i]);
                (score >= min_score).then(|| UnusualClient {
                    client: f.clients[i].clone(),
                    score,
                    cluster,
                    requests: f.requests[i],
                    features: self.explain(&f.values[i], &z, cluster),
                })
            })
            .collect();
        out.sort_by(|a, b| b.score.total_cmp(&a.score));
        out.truncate(MAX_UNUSUAL);
        out
    }

    /// The score of one raw feature vector, its nearest kept cluster, and its
    /// standardised form.
    pub fn score_one(&self, raw: &[f64; N]) -> (f64, usize, [f64; N]) {
        let s = scaled(raw);
        let mut z = [0.0; N];
        for j in 0..N {
            z[j] = (s[j] - self.mean[j]) / self.scale[j];
        }
        let (cluster, d2) = self
            .centroids
            .iter()
            .enumerate()
            .map(|(c, centre)| (c, dist2(&z, centre)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, 0.0));
        let radius = self.radii.get(cluster).copied().unwrap_or(1.0);
        (d2.sqrt() / radius, cluster, z)
    }

    fn explain(&self, raw: &[f64; N], z: &[f64; N], cluster: usize) -> Vec<FeatureDeviation> {
        let Some(centre) = self.centroids.get(cluster) else {
            return Vec::new();
        };
        let total = dist2(z, centre).max(f64::MIN_POSITIVE);
        let mut parts: Vec<(usize, f64)> = (0..N)
            .map(|j| (j, (z[j] - centre[j]).powi(2) / total))
            .collect();
        parts.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut named = Vec::new();
        let mut explained = 0.0;
        for (j, share) in parts {
            if explained >= EXPLAINED || named.len() >= MAX_NAMED {
                break;
            }
            explained += share;
            named.push(FeatureDeviation {
                name: NAMES[j].into(),
                value: raw[j],
                typical: self.typical[cluster][j],
                share,
            });
        }
        named
    }
}

#[cfg(test)]
mod tests;
