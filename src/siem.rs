//! Owns the binary's part of SIEM forwarding: the denied-request summaries (the
//! proxy's deny counters, differenced per interval and queued in the outbox) and
//! the short drain at shutdown. The forwarders themselves are `palisade-siem`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use palisade_models::{DeniedSummary, DenyCode, SharedClock, SiemEvent};
use palisade_proxy::ProxyStats;
use palisade_siem::SiemHandle;
use palisade_store::Store;
use tokio_util::sync::CancellationToken;

/// How long shutdown waits for the sinks to empty the outbox.
pub const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Every `interval`, queues one summary of the requests denied since the last
/// (none when nothing was denied).
pub async fn denied_summaries(
    proxy: Arc<ProxyStats>,
    store: Arc<Store>,
    clock: SharedClock,
    interval: Duration,
    stop: CancellationToken,
) {
    let counts =
        |p: &ProxyStats| -> Vec<u64> { DenyCode::ALL.iter().map(|c| p.denied(*c)).collect() };
    let mut last = counts(&proxy);
    let mut since = clock.now_ms();
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = clock.now_ms();
        let current = counts(&proxy);
        let mut by_reason = BTreeMap::new();
        for ((code, cur), prev) in DenyCode::ALL.iter().zip(&current).zip(&last) {
            let n = cur.saturating_sub(*prev);
            if n > 0 {
                by_reason.insert(code.as_str().to_string(), n);
            }
        }
        last = current;
        let total = by_reason.values().sum();
        let window_start_ms = since;
        since = now;
        if total == 0 {
            continue;
        }
        let event = SiemEvent::Denied(DeniedSummary {
            window_start_ms,
            window_end_ms: now,
            total,
            by_reason,
        });
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.enqueue(vec![(event, now)])).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "a denied-request summary was not queued for the SIEM")
            }
            Err(e) => tracing::error!(error = %e, "the summary task failed"),
        }
    }
}

/// Waits until every sink has emptied its part of the outbox, or `grace` passes;
/// what is left is sent after the next start.
pub async fn drain(siem: &SiemHandle, grace: Duration) {
    let deadline = tokio::time::Instant::now() + grace;
    loop {
        let h = siem.clone();
        let measured = tokio::task::spawn_blocking(move || h.measure()).await;
        let empty =
            matches!(measured, Ok(Ok(()))) && siem.status().sinks.iter().all(|s| s.depth == 0);
        if empty {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            let left: u64 = siem.status().sinks.iter().map(|s| s.depth).sum();
            tracing::info!(
                left,
                "SIEM records left in the outbox; they are sent after the next start"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
