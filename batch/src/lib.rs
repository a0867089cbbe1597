//! Palisade's batch analytics, the slower and deeper view beside the streaming
//! detectors (DESIGN.md, "Event path"; issue 7): on a timer, over the analytics
//! worker's event window (`palisade_analytics::window`),
//!
//! * `frame` turns the window's chunks into a polars `DataFrame`;
//! * `baselines` recomputes robust baselines per endpoint and per client with
//!   polars' lazy API (median, MAD, p95/p99 of rate and latency, failure ratios,
//!   by hour of day);
//! * `features` and `model` fit and apply the client-behaviour model (KMeans,
//!   linfa) whose verdicts the `unusual_client` detector reports;
//! * `runner` runs all of it on its own thread and swaps the result in for the
//!   detectors (`palisade_analytics::batch::BatchReader`);
//! * `export` and `segments` write Parquet (arrow-rs) for forensics: rolling
//!   segments of events on disk, and exports of events or findings on demand.
//!
//! Its own crate so that nothing else waits for polars to compile, and so that the
//! analytics crate keeps only the narrow interfaces (window, view, detector).
//!
//! Must never be called from the request path or the per-event path, and must
//! never make the analytics worker wait: it reads sealed, immutable chunks.

pub mod baselines;
pub mod export;
pub mod features;
pub mod frame;
pub mod model;
pub mod runner;
pub mod segments;
#[cfg(test)]
mod testutil;

pub use runner::{BatchHandle, BatchRunner, polars_threads};

/// Errors of the batch jobs.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// A polars query failed (a bug, or memory exhausted).
    #[error("batch query failed: {0}")]
    Polars(#[from] polars::error::PolarsError),
    /// Writing or reading Parquet failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Building Arrow columns failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// Fitting the client model failed.
    #[error("client model: {0}")]
    Model(String),
    /// A file or directory could not be used.
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The store refused a read or a write.
    #[error(transparent)]
    Store(#[from] palisade_store::StoreError),
    /// The batch thread could not be started.
    #[error("cannot start the batch thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// An export request that cannot be answered as asked.
    #[error("{0}")]
    BadRequest(String),
}
