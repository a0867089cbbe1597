//! The analytics worker: drains the tee in batches on its own thread, so the proxy
//! never waits for it, and runs the event path of DESIGN.md: endpoint templating
//! (`template`), per-endpoint and per-client state (`endpoint`, `client`), the
//! detectors (one file each under `detectors`), and decisions that turn findings
//! into blocks (`decide`). `engine` ties them together per event; `worker` runs it
//! on a thread and hands results to a `Sink` (the store and the block table).
//! `window` keeps recent events in columns for the batch jobs (crate
//! `palisade-batch`), and `batch` is what those jobs hand back: robust baselines
//! the detectors read and client scores for `unusual_client`.
//!
//! Must not be called from the request path, and must never block the tee's
//! producers.

pub mod batch;
pub mod client;
pub mod decide;
pub mod detectors;
pub mod endpoint;
pub mod engine;
pub mod fleet;
pub mod live;
pub mod sketch;
mod supervise;
pub mod template;
pub mod trail;
pub mod window;
mod worker;

pub use engine::{Engine, EngineStats, Output};
pub use worker::{
    Command, Commands, NullSink, Rebuild, Sink, TallyLink, Totals, TotalsSnapshot, Worker,
    WorkerHandle,
};

/// Errors of the analytics worker.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// The worker thread could not be started.
    #[error("cannot start the analytics thread: {0}")]
    Spawn(#[source] std::io::Error),
}
