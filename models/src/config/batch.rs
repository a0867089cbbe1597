//! Owns the `[batch]` section: the event window the analytics worker keeps for the
//! batch jobs, how often they run and on how many threads, the client-behaviour
//! model, and the rolling Parquet segments of events.

use std::time::Duration;

use serde::Deserialize;

use super::Problems;
use super::value::{Dur, dur};

/// `[batch]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Keep the event window and run the batch jobs (robust baselines, the client
    /// model, segments, export of events). Default: true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Bytes of memory the event window may hold, in chunks of up to 16384 events
    /// (about 100 to 250 bytes per event, by path and user-agent lengths); the
    /// oldest chunk is let go beyond it. One chunk being filled comes on top.
    /// Default: 268435456 (256 MiB).
    #[serde(default = "default_window_bytes")]
    pub window_bytes: u64,
    /// Events older than this leave the window. Default: 24h.
    #[serde(default = "default_window_age")]
    pub window_age: Dur,
    /// How often the baselines are recomputed, the model applied and a segment
    /// written. Default: 1m.
    #[serde(default = "default_interval")]
    pub interval: Dur,
    /// Threads of polars' pool, so a recomputation cannot take every core from the
    /// proxy. Applied through `POLARS_MAX_THREADS` when Palisade starts (it
    /// restarts itself once with the variable set when it differs). Default: 1.
    #[serde(default = "one")]
    pub threads: usize,
    /// The nice value (0 to 19) the batch thread and polars' pool run at on
    /// Linux: a recomputation takes CPU the proxy's workers (nice 0) leave, and
    /// yields it to them on a busy host; 0 runs them as the workers. Default: 10.
    #[serde(default = "default_nice")]
    pub nice: i32,
    /// The client-behaviour model.
    #[serde(default)]
    pub model: ModelConfig,
    /// Rolling Parquet segments of events on disk.
    #[serde(default)]
    pub segments: SegmentsConfig,
}

/// `[batch.model]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Fit the model and score clients (the `unusual_client` detector). Default: true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// KMeans clusters. Default: 4.
    #[serde(default = "default_clusters")]
    pub clusters: usize,
    /// Clients (with `analytics.detectors.unusual_client.min_requests`) needed in
    /// the window to fit; fewer keep the previous model. Default: 50.
    #[serde(default = "default_min_clients")]
    pub min_clients: usize,
    /// Clusters with a smaller share of the clients are not kept as normal (a
    /// group of alike outliers must not become a cluster of its own). Default: 0.05.
    #[serde(default = "default_min_cluster_share")]
    pub min_cluster_share: f64,
    /// How often the model is fitted again; between fits it only scores, and a
    /// restart scores with the stored model at once. Default: 1h.
    #[serde(default = "default_refit")]
    pub refit: Dur,
}

/// `[batch.segments]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentsConfig {
    /// Write events to rolling Parquet files (one per `batch.interval`). Off, an
    /// export of events covers the in-memory window only. Default: false.
    #[serde(default)]
    pub enabled: bool,
    /// Directory of the segment files; created. Default: "palisade-data/events".
    #[serde(default = "default_segments_dir")]
    pub dir: String,
    /// Segments whose newest event is older than this are deleted. Default: 7d.
    #[serde(default = "default_segments_retention")]
    pub retention: Dur,
    /// The oldest segments are deleted while all together are larger. Default:
    /// 10737418240 (10 GiB).
    #[serde(default = "default_segments_max_bytes")]
    pub max_bytes: u64,
}

fn yes() -> bool {
    true
}
fn one() -> usize {
    1
}
fn default_nice() -> i32 {
    10
}
fn default_window_bytes() -> u64 {
    256 * 1024 * 1024
}
fn default_window_age() -> Dur {
    dur("24h")
}
fn default_interval() -> Dur {
    dur("1m")
}
fn default_clusters() -> usize {
    4
}
fn default_min_clients() -> usize {
    50
}
fn default_min_cluster_share() -> f64 {
    0.05
}
fn default_refit() -> Dur {
    dur("1h")
}
fn default_segments_dir() -> String {
    "palisade-data/events".into()
}
fn default_segments_retention() -> Dur {
    dur("7d")
}
fn default_segments_max_bytes() -> u64 {
    10 * 1024 * 1024 * 1024
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            window_bytes: default_window_bytes(),
            window_age: default_window_age(),
            interval: default_interval(),
            threads: one(),
            nice: default_nice(),
            model: ModelConfig::default(),
            segments: SegmentsConfig::default(),
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            clusters: default_clusters(),
            min_clients: default_min_clients(),
            min_cluster_share: default_min_cluster_share(),
            refit: default_refit(),
        }
    }
}

impl Default for SegmentsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            dir: default_segments_dir(),
            retention: default_segments_retention(),
            max_bytes: default_segments_max_bytes(),
        }
    }
}

/// Smallest window: a few chunks, so that eviction frees memory in small steps.
const MIN_WINDOW_BYTES: u64 = 16 * 1024 * 1024;

impl BatchConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        for (key, d) in [
            ("batch.window_age", &self.window_age),
            ("batch.interval", &self.interval),
            ("batch.model.refit", &self.model.refit),
            ("batch.segments.retention", &self.segments.retention),
        ] {
            d.check(key, "a duration such as 1m", p);
            if d.ok().is_some() && d.duration() < Duration::from_secs(1) {
                p.push(
                    key,
                    "must be at least 1s",
                    "the defaults are 24h, 1m, 1h and 7d",
                );
            }
        }
        if self.window_bytes < MIN_WINDOW_BYTES {
            p.push(
                "batch.window_bytes",
                format!("{} is below 16 MiB", self.window_bytes),
                "268435456 (256 MiB, the default) holds about a million events",
            );
        }
        if !(1..=256).contains(&self.threads) {
            p.push(
                "batch.threads",
                format!("{} is outside 1..=256", self.threads),
                "1 (the default) leaves the other cores to the proxy",
            );
        }
        if !(0..=19).contains(&self.nice) {
            p.push(
                "batch.nice",
                format!("{} is outside 0..=19", self.nice),
                "10 (the default) lets the batch jobs yield to the proxy; 0 runs them at the proxy's priority",
            );
        }
        let m = &self.model;
        if !(1..=64).contains(&m.clusters) {
            p.push(
                "batch.model.clusters",
                format!("{} is outside 1..=64", m.clusters),
                "4 (the default) suits most services",
            );
        }
        if m.min_clients < 2 {
            p.push(
                "batch.model.min_clients",
                "must be at least 2",
                "50 (the default) keeps a model from being fitted on a handful",
            );
        }
        if !(0.0..1.0).contains(&m.min_cluster_share) {
            p.push(
                "batch.model.min_cluster_share",
                format!("{} is not a share below 1", m.min_cluster_share),
                "write a number from 0 to 1, such as 0.05",
            );
        }
        if self.segments.dir.trim().is_empty() {
            p.push(
                "batch.segments.dir",
                "the path is empty",
                "name a directory such as /var/lib/palisade/events",
            );
        }
    }
}
