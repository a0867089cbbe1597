//! Owns the drain loop: batch out of the tee, process, repeat; park briefly when the
//! tee is empty. Must not hold events beyond one batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use palisade_models::{RequestEvent, Tee};

use crate::AnalyticsError;

/// Events taken from the tee per batch.
const BATCH: usize = 1024;
/// How long the worker parks when the tee is empty. Bounded so that a burst after
/// a quiet spell waits at most this long; short enough that a 64k ring at 100k
/// requests/s never fills while the worker sleeps.
const IDLE_PARK: Duration = Duration::from_millis(2);

/// Running totals of what the worker has processed.
#[derive(Debug, Default)]
pub struct Totals {
    // Relaxed atomics: written by the one worker thread, read for reporting.
    pub events: AtomicU64,
    pub denied: AtomicU64,
    pub server_errors: AtomicU64,
}

/// A copy of the totals at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TotalsSnapshot {
    pub events: u64,
    pub denied: u64,
    pub server_errors: u64,
}

impl Totals {
    pub fn snapshot(&self) -> TotalsSnapshot {
        TotalsSnapshot {
            events: self.events.load(Ordering::Relaxed),
            denied: self.denied.load(Ordering::Relaxed),
            server_errors: self.server_errors.load(Ordering::Relaxed),
        }
    }
}

/// The analytics worker.
#[derive(Debug)]
pub struct Worker {
    tee: Arc<Tee>,
    totals: Arc<Totals>,
}

/// Controls a running worker.
#[derive(Debug)]
pub struct WorkerHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    totals: Arc<Totals>,
}

impl Worker {
    pub fn new(tee: Arc<Tee>) -> Self {
        Self {
            tee,
            totals: Arc::default(),
        }
    }

    /// Starts the worker on its own thread.
    pub fn spawn(self) -> Result<WorkerHandle, AnalyticsError> {
        let stop = Arc::new(AtomicBool::new(false));
        let totals = self.totals.clone();
        let flag = stop.clone();
        let thread = thread::Builder::new()
            .name("palisade-analytics".into())
            .spawn(move || self.run(&flag))
            .map_err(AnalyticsError::Spawn)?;
        Ok(WorkerHandle {
            stop,
            thread: Some(thread),
            totals,
        })
    }

    fn run(mut self, stop: &AtomicBool) {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let n = self.tee.drain_into(&mut batch, BATCH);
            for ev in batch.drain(..) {
                self.process(&ev);
            }
            if n == 0 {
                // Drain what is left before leaving, so nothing recorded is lost.
                if stop.load(Ordering::Acquire) && self.tee.is_empty() {
                    return;
                }
                thread::park_timeout(IDLE_PARK);
            }
        }
    }

    fn process(&mut self, ev: &RequestEvent) {
        self.totals.events.fetch_add(1, Ordering::Relaxed);
        if ev.deny.is_some() {
            self.totals.denied.fetch_add(1, Ordering::Relaxed);
        }
        if ev.status >= 500 {
            self.totals.server_errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl WorkerHandle {
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Drains what is left in the tee, stops the thread, and returns the totals.
    pub fn stop(mut self) -> TotalsSnapshot {
        self.stop_inner();
        self.totals.snapshot()
    }

    fn stop_inner(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_models::{Denial, DenyCode, Phase};

    fn event(status: u16, denied: bool) -> RequestEvent {
        RequestEvent {
            status,
            deny: denied.then_some(Denial {
                phase: Phase::Block,
                code: DenyCode::Blocked,
            }),
            ..RequestEvent::example()
        }
    }

    #[test]
    fn stop_drains_everything_already_in_the_tee() {
        let tee = Arc::new(Tee::new(16));
        for _ in 0..5 {
            assert!(tee.push(event(200, false)));
        }
        assert!(tee.push(event(403, true)));
        assert!(tee.push(event(502, false)));
        let handle = Worker::new(tee.clone()).spawn().unwrap();
        let totals = handle.stop();
        assert_eq!(
            totals,
            TotalsSnapshot {
                events: 7,
                denied: 1,
                server_errors: 1
            }
        );
        assert!(tee.is_empty());
    }
}
