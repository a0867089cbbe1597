//! Owns what happens when the analytics worker panics: the panic is caught on the
//! worker's own thread, logged as an error that tells the operator what it means,
//! counted (`Totals::restarts`, shown as `palisade_analytics_restarts_total`) and
//! flagged (`Totals::down`, `palisade_analytics_up 0`), and the drain loop starts
//! again after a backoff on a freshly built engine (`Worker::with_rebuild`).
//!
//! The request path never notices: the proxy only pushes into the tee, which
//! drops and counts while nobody drains it. Must not make the proxy wait and must
//! not retry faster than the backoff allows (a worker that panics on every event
//! would otherwise spin a core).

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::worker::Worker;

/// The first restart waits this long; each crash soon after doubles it.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// The longest wait between restarts.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A worker that ran this long before crashing restarts after `BACKOFF_MIN` again.
const STABLE_AFTER: Duration = Duration::from_secs(60);

impl Worker {
    /// Runs the drain loop until it is stopped, restarting it after each panic.
    pub(crate) fn supervise(mut self, stop: &AtomicBool) {
        let mut backoff = BACKOFF_MIN;
        loop {
            // `Instant`, not the injected clock: this is a real wait, not a window.
            let started = Instant::now();
            // AssertUnwindSafe: what a panic may leave half-updated is the engine,
            // and it is replaced below; the tee and the counters are atomics.
            let Err(payload) = catch_unwind(AssertUnwindSafe(|| self.run(stop))) else {
                return;
            };
            self.totals.down.store(true, Ordering::Release);
            let restarts = self.totals.restarts.fetch_add(1, Ordering::Relaxed) + 1;
            if started.elapsed() >= STABLE_AFTER {
                backoff = BACKOFF_MIN;
            }
            let stopping = stop.load(Ordering::Acquire);
            tracing::error!(
                panic = %message(payload.as_ref()),
                restarts,
                restart_in = ?backoff,
                stopping,
                "the analytics worker crashed (a bug: please report it with this log). Requests are still served and blocks in force stay enforced, but no new detections are made and request events are dropped (palisade_tee_dropped_events_total) until it restarts with baselines from the last snapshot"
            );
            if stopping {
                // Shutting down: a drain that crashed once will crash again.
                return;
            }
            wait(backoff, stop);
            backoff = (backoff * 2).min(BACKOFF_MAX);
            if let Some(rebuild) = &mut self.rebuild {
                match catch_unwind(AssertUnwindSafe(rebuild)) {
                    Ok(Some(engine)) => self.engine = Some(engine),
                    Ok(None) => {}
                    Err(p) => tracing::error!(
                        panic = %message(p.as_ref()),
                        "rebuilding the analytics engine failed; restarting with the old one"
                    ),
                }
            }
            self.totals.down.store(false, Ordering::Release);
            tracing::warn!(restarts, "the analytics worker restarted");
        }
    }
}

/// Parks for `d`, or less if the worker is told to stop.
fn wait(d: Duration, stop: &AtomicBool) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::Acquire) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        // `WorkerHandle::stop` unparks the thread.
        thread::park_timeout(left);
    }
}

/// The text a panic was raised with.
fn message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}
