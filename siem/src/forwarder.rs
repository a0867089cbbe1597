//! Owns delivery: one task per sink reading its records from the outbox in order,
//! handing them to its transport, and acknowledging what the receiver accepted;
//! retries with exponential backoff and jitter; dead letters for what a receiver
//! refuses as malformed; and the counters operators watch.
//!
//! Must not lose a record: the outbox cursor moves only after the transport said
//! the receiver has the batch, or after the record was kept as a dead letter. A
//! stop in the middle of a send leaves the batch in the outbox for the next run
//! (at least once: receivers deduplicate on the record id).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade_models::{DELIVERY_BUCKETS_S, SharedClock, SiemRecord, SinkStatus};
use palisade_store::{OutboxBatch, Store, StoreError};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::transport::{SendError, Transport};

/// How long an idle sink waits before looking at the outbox again without a wake
/// (records queued by another process, a missed wake).
const IDLE_POLL: Duration = Duration::from_secs(1);
/// While a sink keeps failing, how often the failure is logged at warn.
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(60);

/// What one sink needs to run.
pub struct SinkRunner {
    pub name: Box<str>,
    pub mask: u8,
    pub batch: usize,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    pub transport: Transport,
    pub stats: Arc<SinkStats>,
    pub wake: Arc<Notify>,
}

/// One sink's counters, shared with the status view.
#[derive(Debug)]
pub struct SinkStats {
    pub name: Box<str>,
    pub kind: Box<str>,
    pub target: Box<str>,
    pub delivered: AtomicU64,
    pub retries: AtomicU64,
    pub dead_letters: AtomicU64,
    pub healthy: AtomicBool,
    /// 0 when never.
    pub last_delivery_ms: AtomicU64,
    pub last_error: Mutex<Option<Box<str>>>,
    pub latency: [AtomicU64; DELIVERY_BUCKETS_S.len() + 1],
    pub latency_sum_ms: AtomicU64,
    /// Kept current by the monitor.
    pub depth: AtomicU64,
    /// 0 when nothing waits.
    pub oldest_ms: AtomicU64,
}

impl SinkStats {
    pub fn new(name: &str, kind: &str, target: &str) -> Self {
        Self {
            name: name.into(),
            kind: kind.into(),
            target: target.into(),
            delivered: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            dead_letters: AtomicU64::new(0),
            healthy: AtomicBool::new(true),
            last_delivery_ms: AtomicU64::new(0),
            last_error: Mutex::new(None),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_sum_ms: AtomicU64::new(0),
            depth: AtomicU64::new(0),
            oldest_ms: AtomicU64::new(0),
        }
    }

    fn delivered(&self, records: &[SiemRecord], now_ms: u64) {
        self.delivered
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        for r in records {
            let ms = now_ms.saturating_sub(r.created_ms);
            let secs = ms as f64 / 1000.0;
            let bucket = DELIVERY_BUCKETS_S
                .iter()
                .position(|b| secs <= *b)
                .unwrap_or(DELIVERY_BUCKETS_S.len());
            self.latency[bucket].fetch_add(1, Ordering::Relaxed);
            self.latency_sum_ms.fetch_add(ms, Ordering::Relaxed);
        }
        self.last_delivery_ms.store(now_ms, Ordering::Relaxed);
        self.healthy.store(true, Ordering::Relaxed);
    }

    fn failed(&self, error: &str) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        self.healthy.store(false, Ordering::Relaxed);
        *self
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(error.into());
    }

    /// A snapshot for the API and metrics.
    pub fn status(&self) -> SinkStatus {
        let opt = |v: u64| (v != 0).then_some(v);
        SinkStatus {
            name: self.name.clone(),
            kind: self.kind.clone(),
            target: self.target.clone(),
            depth: self.depth.load(Ordering::Relaxed),
            oldest_ms: opt(self.oldest_ms.load(Ordering::Relaxed)),
            delivered: self.delivered.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            dead_letters: self.dead_letters.load(Ordering::Relaxed),
            healthy: self.healthy.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
            last_delivery_ms: opt(self.last_delivery_ms.load(Ordering::Relaxed)),
            latency_counts: self
                .latency
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
            latency_sum_ms: self.latency_sum_ms.load(Ordering::Relaxed),
        }
    }
}

/// Runs `sink` until `stop`.
pub async fn run(
    mut sink: SinkRunner,
    store: Arc<Store>,
    clock: SharedClock,
    stop: CancellationToken,
) {
    let mut failures: u32 = 0;
    let mut last_warn: Option<tokio::time::Instant> = None;
    loop {
        if stop.is_cancelled() {
            return;
        }
        let batch = match blocking(&store, {
            let name = sink.name.clone();
            let (mask, limit) = (sink.mask, sink.batch);
            move |s| s.outbox_batch(&name, mask, limit)
        })
        .await
        {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(sink = %sink.name, error = %e, "cannot read the SIEM outbox; retrying");
                if pause(&stop, sink.backoff_max).await {
                    return;
                }
                continue;
            }
        };
        if batch.records.is_empty() {
            if let Err(e) = ack_skipped(&store, &sink.name, &batch).await {
                tracing::error!(sink = %sink.name, error = %e, "cannot move the outbox cursor");
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = sink.wake.notified() => {}
                () = tokio::time::sleep(IDLE_POLL) => {}
            }
            continue;
        }

        let result = tokio::select! {
            () = stop.cancelled() => return,
            r = deliver(&mut sink, &store, &clock, batch) => r,
        };
        match result {
            Ok(()) => {
                if failures > 0 {
                    tracing::info!(sink = %sink.name, after = failures, "SIEM sink delivering again");
                }
                failures = 0;
                last_warn = None;
            }
            Err(e) => {
                sink.stats.failed(&e);
                failures = failures.saturating_add(1);
                let now = tokio::time::Instant::now();
                if last_warn.is_none_or(|t| now.duration_since(t) >= FAILURE_LOG_EVERY) {
                    last_warn = Some(now);
                    tracing::warn!(
                        sink = %sink.name,
                        attempts = failures,
                        depth = sink.stats.depth.load(Ordering::Relaxed),
                        error = %e,
                        "SIEM delivery failed; records stay in the outbox and are retried"
                    );
                } else {
                    tracing::debug!(sink = %sink.name, attempts = failures, error = %e, "SIEM delivery failed again");
                }
                let delay = backoff(sink.backoff_min, sink.backoff_max, failures);
                if pause(&stop, delay).await {
                    return;
                }
            }
        }
    }
}

/// Sends one batch and acknowledges it; a batch refused as malformed is sent again
/// one record at a time, so that only the bad records become dead letters. `Err`
/// is a failure worth retrying.
async fn deliver(
    sink: &mut SinkRunner,
    store: &Arc<Store>,
    clock: &SharedClock,
    batch: OutboxBatch,
) -> Result<(), String> {
    match sink.transport.send(&batch.records).await {
        Ok(()) => {
            ack(store, &sink.name, batch.scanned_to).await?;
            sink.stats.delivered(&batch.records, clock.now_ms());
            Ok(())
        }
        Err(SendError::Retry(e)) => Err(e),
        Err(SendError::Reject(e)) if batch.records.len() == 1 => {
            dead_letter(sink, store, clock, &batch.records[0], &e).await?;
            ack_skipped(store, &sink.name, &batch).await
        }
        Err(SendError::Reject(_)) => {
            for record in &batch.records {
                match sink.transport.send(std::slice::from_ref(record)).await {
                    Ok(()) => {
                        ack(store, &sink.name, record.seq).await?;
                        sink.stats
                            .delivered(std::slice::from_ref(record), clock.now_ms());
                    }
                    Err(SendError::Reject(e)) => {
                        dead_letter(sink, store, clock, record, &e).await?;
                    }
                    Err(SendError::Retry(e)) => return Err(e),
                }
            }
            ack_skipped(store, &sink.name, &batch).await
        }
    }
}

async fn dead_letter(
    sink: &SinkRunner,
    store: &Arc<Store>,
    clock: &SharedClock,
    record: &SiemRecord,
    reason: &str,
) -> Result<(), String> {
    tracing::warn!(
        sink = %sink.name,
        record = %record.id,
        reason,
        "the receiver refused a SIEM record as malformed; kept as a dead letter (GET /api/siem/dead-letters)"
    );
    let name = sink.name.clone();
    let record = record.clone();
    let reason = reason.to_string();
    let at = clock.now_ms();
    blocking(store, move |s| {
        s.outbox_dead_letter(&name, &record, &reason, at)
    })
    .await
    .map_err(|e| format!("keeping a dead letter: {e}"))?;
    sink.stats.dead_letters.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

async fn ack(store: &Arc<Store>, sink: &str, upto: u64) -> Result<(), String> {
    let name = sink.to_string();
    blocking(store, move |s| s.outbox_ack(&name, upto))
        .await
        .map_err(|e| format!("acknowledging delivered records: {e}"))
}

/// Passes the records a batch examined but the sink does not want; nothing (no
/// write, no fsync) when there are none.
async fn ack_skipped(store: &Arc<Store>, sink: &str, batch: &OutboxBatch) -> Result<(), String> {
    let done = batch.records.last().map_or(batch.from, |r| r.seq);
    if batch.scanned_to > done {
        ack(store, sink, batch.scanned_to).await
    } else {
        Ok(())
    }
}

async fn blocking<T: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| StoreError::Db(format!("a store task failed: {e}")))?
}

/// The delay before attempt `failures + 1`: `min * 2^(failures-1)` capped at
/// `max`, then scaled by a random factor in [0.5, 1) so that sidecars that failed
/// together do not retry together.
pub fn backoff(min: Duration, max: Duration, failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(30);
    let base = min.saturating_mul(1u32 << exp).min(max);
    base.mul_f64(0.5 + fastrand::f64() / 2.0)
}

/// Waits `d` unless stopped first; true when stopped.
async fn pause(stop: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        () = stop.cancelled() => true,
        () = tokio::time::sleep(d) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(2));
        for _ in 0..100 {
            let d1 = backoff(min, max, 1);
            assert!(d1 >= Duration::from_millis(50) && d1 < min, "{d1:?}");
            let d3 = backoff(min, max, 3);
            assert!(d3 >= Duration::from_millis(200) && d3 < Duration::from_millis(400));
            let d40 = backoff(min, max, 40);
            assert!(d40 >= Duration::from_secs(1) && d40 < max, "{d40:?}");
        }
    }

    #[test]
    fn latencies_land_in_their_buckets() {
        let stats = SinkStats::new("s", "syslog", "x:1");
        let record = |created_ms| SiemRecord {
            seq: 1,
            id: "a-1".into(),
            created_ms,
            event: palisade_models::SiemEvent::Denied(palisade_models::DeniedSummary {
                window_start_ms: 0,
                window_end_ms: 0,
                total: 0,
                by_reason: Default::default(),
            }),
        };
        stats.delivered(&[record(10_000), record(9_000), record(0)], 10_003);
        let s = stats.status();
        assert_eq!(s.delivered, 3);
        assert_eq!(s.latency_counts[0], 1, "3 ms");
        assert_eq!(
            s.latency_counts[5], 1,
            "1.003 s is over 1 s: the 2.5 s bucket"
        );
        assert_eq!(s.latency_counts[7], 1, "10.003 s: the 30 s bucket");
        assert_eq!(s.latency_sum_ms, 3 + 1_003 + 10_003);
        assert_eq!(s.last_delivery_ms, Some(10_003));
    }
}
