//! Owns the batch thread: every `batch.interval` it takes the newest sealed chunks
//! of the window (an atomic load: the worker never waits), recomputes the
//! baselines, refits the client model when due (else scores with the one it has,
//! which after a restart is the stored one), swaps the result in for the
//! detectors, stores a refitted model, and writes the new chunks as a segment.
//!
//! Must not run on the worker's thread or the proxy's; polars' own pool is capped
//! by `batch.threads` (`POLARS_MAX_THREADS`, set before polars' first use).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use palisade_analytics::batch::{BatchReader, BatchView};
use palisade_analytics::window::WindowReader;
use palisade_models::config::UnusualClientConfig;
use palisade_models::{Config, SharedClock};
use palisade_store::Store;

use crate::baselines::{self, Settings};
use crate::export::Exporter;
use crate::features;
use crate::frame;
use crate::model::{ClientModel, ModelSettings};
use crate::segments::{Retention, Segment, SegmentWriter};
use crate::{BatchError, frame::Frame};

/// Name of the client model's snapshot in the store.
pub const MODEL_SNAPSHOT: &str = "client_model";

/// Threads in polars' pool (starting it if it has not started).
pub fn polars_threads() -> usize {
    polars_core::runtime::THREAD_POOL.current_num_threads()
}

/// Runs the calling thread and polars' pool at nice value `nice` (`batch.nice`),
/// so that a recomputation yields the CPU to the proxy's workers on a busy host,
/// as databases run compaction below their foreground threads. Linux only: there
/// the nice value is per thread (setpriority on a thread id).
fn lower_priority(nice: i32) {
    if nice == 0 {
        return;
    }
    if let Err(e) = set_thread_nice(nice) {
        tracing::warn!(
            nice,
            error = %e,
            "batch jobs keep the proxy's CPU priority (batch.nice not applied)"
        );
        return;
    }
    // The pool may have been started by another thread (an export): every one of
    // its threads sets its own value.
    polars_core::runtime::THREAD_POOL.broadcast(|_| {
        let _ = set_thread_nice(nice);
    });
}

#[cfg(target_os = "linux")]
fn set_thread_nice(nice: i32) -> std::io::Result<()> {
    rustix::process::setpriority_process(Some(rustix::thread::gettid()), nice)?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn set_thread_nice(_: i32) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "a nice value per thread is Linux's",
    ))
}

/// What one run did.
#[derive(Debug, Default, Clone)]
pub struct RunReport {
    pub events: u64,
    pub endpoints: usize,
    pub clients: usize,
    /// Clients the model scored.
    pub scored: usize,
    pub unusual: usize,
    /// Whether the model was fitted in this run.
    pub fitted: bool,
    pub segment: Option<Segment>,
    /// Time spent computing (frame, baselines, features, model).
    pub compute: Duration,
}

/// The batch jobs of one Palisade.
#[derive(Debug)]
pub struct BatchRunner {
    window: WindowReader,
    out: BatchReader,
    store: Option<Arc<Store>>,
    clock: SharedClock,
    interval: Duration,
    /// `batch.nice`: the priority the thread and polars' pool run at.
    nice: i32,
    baselines: Settings,
    model_settings: Option<ModelSettings>,
    refit_ms: u64,
    unusual: UnusualClientConfig,
    model: Option<ClientModel>,
    segments: Option<SegmentWriter>,
    segments_dir: Option<PathBuf>,
    generation: u64,
    boot: u64,
}

/// A running batch thread.
#[derive(Debug)]
pub struct BatchHandle {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl BatchRunner {
    /// A runner over `window` publishing to `out`. Reads the stored model, so a
    /// restart scores clients from its first run; `boot` names this process's
    /// segments (the time it started, ms).
    pub fn new(
        config: &Config,
        window: WindowReader,
        out: BatchReader,
        store: Option<Arc<Store>>,
        clock: SharedClock,
        boot: u64,
    ) -> Result<Self, BatchError> {
        let b = &config.batch;
        let a = &config.analytics;
        let model = match &store {
            Some(s) if b.model.enabled => load_model(s),
            _ => None,
        };
        let segments = if b.segments.enabled {
            Some(SegmentWriter::new(
                PathBuf::from(&b.segments.dir),
                boot,
                Retention {
                    max_age_ms: b.segments.retention.duration().as_millis() as u64,
                    max_bytes: b.segments.max_bytes,
                },
            )?)
        } else {
            None
        };
        Ok(Self {
            window,
            out,
            store,
            clock,
            interval: b.interval.duration(),
            nice: b.nice,
            baselines: Settings {
                bucket_us: a.endpoint_bucket.duration().as_micros() as i64,
                client_window_us: a.client_window.duration().as_micros() as i64,
            },
            model_settings: b.model.enabled.then_some(ModelSettings {
                clusters: b.model.clusters,
                min_clients: b.model.min_clients,
                min_cluster_share: b.model.min_cluster_share,
            }),
            refit_ms: b.model.refit.duration().as_millis() as u64,
            unusual: a.detectors.unusual_client.clone(),
            model,
            segments,
            segments_dir: b.segments.enabled.then(|| PathBuf::from(&b.segments.dir)),
            generation: 0,
            boot,
        })
    }

    /// Where exports of events and findings read from, for this runner's window.
    pub fn exporter(&self) -> Exporter {
        Exporter {
            segments: self.segments_dir.clone(),
            window: Some(self.window.clone()),
            boot: self.boot,
            store: self.store.clone(),
        }
    }

    /// The model in use, if any.
    pub fn model(&self) -> Option<&ClientModel> {
        self.model.as_ref()
    }

    /// One run, now.
    pub fn run_once(&mut self) -> Result<RunReport, BatchError> {
        let now_ms = self.clock.now_ms();
        let view = self.window.load_full();
        let mut report = RunReport::default();
        let started = Instant::now();
        let frame = frame::build(&view)?;
        report.events = frame.df.height() as u64;
        if report.events > 0 {
            self.compute(&frame, now_ms, &mut report)?;
        }
        report.compute = started.elapsed();
        if let Some(w) = &mut self.segments {
            report.segment = w.write_new(&view)?;
            let removed = w.enforce_retention(now_ms)?;
            if removed > 0 {
                tracing::debug!(removed, "old event segments deleted");
            }
        }
        Ok(report)
    }

    fn compute(
        &mut self,
        frame: &Frame,
        now_ms: u64,
        report: &mut RunReport,
    ) -> Result<(), BatchError> {
        let b = baselines::compute(frame, &self.baselines)?;
        report.endpoints = b.endpoints.len();
        report.clients = b.clients.len();
        let mut unusual = Vec::new();
        if let Some(ms) = self.model_settings {
            let f = features::compute(frame, self.unusual.min_requests)?;
            let due = self
                .model
                .as_ref()
                .is_none_or(|m| now_ms.saturating_sub(m.fitted_ms) >= self.refit_ms);
            if due && let Some(m) = ClientModel::fit(&f, &ms, now_ms)? {
                self.save_model(&m);
                self.model = Some(m);
                report.fitted = true;
            }
            if let Some(m) = &self.model {
                report.scored = f.len();
                unusual = m.unusual(&f, self.unusual.min_score);
            }
        }
        report.unusual = unusual.len();
        self.generation += 1;
        self.out.store(Arc::new(BatchView {
            generation: self.generation,
            computed_ms: now_ms,
            events: report.events,
            span_us: frame.span_us,
            endpoints: b.endpoints,
            clients: b.clients,
            unusual,
        }));
        Ok(())
    }

    fn save_model(&self, m: &ClientModel) {
        let Some(store) = &self.store else { return };
        let bytes = match serde_json::to_vec(m) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "client model not encoded; it is refitted after a restart");
                return;
            }
        };
        if let Err(e) = store.put_snapshot(MODEL_SNAPSHOT, &bytes) {
            tracing::warn!(error = %e, "client model not stored; it is refitted after a restart");
        }
    }

    /// Starts the batch thread: a run every `batch.interval`, and a last one when
    /// stopped (so the last events reach a segment).
    pub fn spawn(mut self) -> Result<BatchHandle, BatchError> {
        let (tx, rx) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name("palisade-batch".into())
            .spawn(move || {
                lower_priority(self.nice);
                tracing::info!(
                    polars_threads = polars_threads(),
                    nice = self.nice,
                    "batch analytics started"
                );
                loop {
                    let stopping = match rx.recv_timeout(self.interval) {
                        Err(RecvTimeoutError::Timeout) => false,
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
                    };
                    match self.run_once() {
                        Ok(r) => tracing::debug!(
                            events = r.events,
                            endpoints = r.endpoints,
                            clients = r.clients,
                            unusual = r.unusual,
                            fitted = r.fitted,
                            ms = r.compute.as_millis() as u64,
                            "batch run"
                        ),
                        Err(e) => tracing::warn!(error = %e, "batch run failed; retrying at the next interval"),
                    }
                    if stopping {
                        return;
                    }
                }
            })
            .map_err(BatchError::Spawn)?;
        Ok(BatchHandle {
            stop: Some(tx),
            thread: Some(thread),
        })
    }
}

fn load_model(store: &Store) -> Option<ClientModel> {
    let bytes = match store.snapshot(MODEL_SNAPSHOT) {
        Ok(Some(b)) => b,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(error = %e, "stored client model not read; it is refitted");
            return None;
        }
    };
    match serde_json::from_slice::<ClientModel>(&bytes) {
        Ok(m) if m.compatible() => Some(m),
        Ok(_) => {
            tracing::info!("stored client model is of another version; it is refitted");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "stored client model does not parse; it is refitted");
            None
        }
    }
}

impl BatchHandle {
    /// Runs once more (writing the last segment) and stops the thread.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for BatchHandle {
    fn drop(&mut self) {
        self.stop_inner();
    }
}
