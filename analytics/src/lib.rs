//! The analytics worker: drains the tee in batches on its own thread, so the proxy
//! never waits for it (DESIGN.md, "Event path").
//!
//! Today it keeps running totals of what it drained; endpoint templating,
//! baselines, detectors and decisions plug into `Worker::process` in the analytics
//! issue. Must not be called from the request path, and must never block the tee's
//! producers.

mod worker;

pub use worker::{Totals, TotalsSnapshot, Worker, WorkerHandle};

/// Errors of the analytics worker.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// The worker thread could not be started.
    #[error("cannot start the analytics thread: {0}")]
    Spawn(#[source] std::io::Error),
}
