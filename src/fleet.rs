//! Owns the binary's side of the fleet link: the block writer as the link sees it
//! (`LocalBlocks`: what to share, how to enforce and lift what other sidecars
//! decided), and the join gate that keeps `/readyz` at 503 until this sidecar has
//! synchronised with its fleet or `fleet.join_timeout` passed; and the thread
//! that carries fleet-wide detection counters between the analytics worker and
//! Redis.
//!
//! Must not hold the block writer's lock while talking to Redis: the link only
//! queues, and calls back from its own tasks.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use palisade_dashboard::Readiness;
use palisade_fleet::{Fleet, FleetStatus, LocalBlocks};
use palisade_models::tally::TallyBatch;
use palisade_models::{Block, BlockOrigin, BlockScope, NewBlock};
use tokio_util::sync::CancellationToken;

use crate::app::BlockControl;

impl LocalBlocks for BlockControl {
    fn shared(&self, now_ms: u64) -> Vec<Block> {
        self.in_force(now_ms)
            .into_iter()
            .filter(|b| b.origin != BlockOrigin::Config)
            .map(|b| (*b).clone())
            .collect()
    }

    fn apply_remote(&self, block: Block, instance: &str) {
        let now = self.now_ms();
        if !block.is_active(now) || self.in_force(now).iter().any(|b| b.scope == block.scope) {
            return;
        }
        self.publish_as(
            NewBlock {
                scope: block.scope,
                reason: block.reason,
                origin: BlockOrigin::Fleet,
                created_ms: block.created_ms,
                expires_ms: block.expires_ms,
                // The finding lives in the deciding sidecar's store, not this one.
                finding: None,
            },
            &format!("fleet:{instance}"),
        );
    }

    fn lift_remote(&self, scope: &BlockScope, at_ms: u64, instance: &str) {
        let now = self.now_ms();
        let lifted: Vec<_> = self
            .in_force(now)
            .into_iter()
            .filter(|b| &b.scope == scope && b.created_ms <= at_ms)
            .filter(|b| b.origin != BlockOrigin::Config)
            .map(|b| b.id)
            .collect();
        for id in lifted {
            self.remove_from_fleet(id, &format!("fleet:{instance}"));
        }
    }
}

/// Holds `/readyz` at "not ready" until the first synchronisation with the fleet,
/// or `timeout`, whichever is first; a timeout is logged (the sidecar then serves
/// with its own blocks and joins when Redis answers).
pub(crate) async fn join_gate(
    status: Arc<FleetStatus>,
    ready: Arc<Readiness>,
    timeout: Duration,
    stop: CancellationToken,
) {
    ready.fleet_joining.store(true, Ordering::Release);
    tokio::select! {
        () = stop.cancelled() => {}
        () = status.wait_joined() => {}
        () = tokio::time::sleep(timeout) => tracing::warn!(
            timeout = ?timeout,
            "fleet: not synchronised with the other sidecars within fleet.join_timeout; \
             reporting ready with this sidecar's own blocks (check that Redis at fleet.url \
             answers)"
        ),
    }
    ready.fleet_joining.store(false, Ordering::Release);
}

/// Starts the thread that carries the analytics engine's tallies to Redis and
/// the fleet's counts back (fleet-wide detection). Counter windows are `window`
/// long; the worker sends at most one batch per `every`. The thread ends when
/// the worker drops its end. Must run inside a tokio runtime (the exchange runs
/// on it).
pub(crate) fn tally_link(
    fleet: Fleet,
    window: Duration,
    every: Duration,
) -> anyhow::Result<palisade_analytics::TallyLink> {
    let (to_fleet, batches) = std::sync::mpsc::sync_channel::<TallyBatch>(1);
    let (answers, from_fleet) = std::sync::mpsc::channel();
    let runtime = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name("palisade-fleet-tally".into())
        .spawn(move || {
            let mut failing = false;
            while let Ok(batch) = batches.recv() {
                // Known down: answer at once; the worker reports what waited
                // for a claim and its own detectors go on.
                let counts = if fleet.status().up() {
                    runtime.block_on(fleet.exchange(&batch, window, SystemTime::now()))
                } else {
                    Err(palisade_fleet::FleetError::Down)
                };
                let counts = match counts {
                    Ok(c) => {
                        if failing {
                            tracing::info!(target: "palisade::fleet", "fleet-wide detection counters exchanged again");
                        }
                        failing = false;
                        Some(c)
                    }
                    Err(e) => {
                        if !failing {
                            tracing::warn!(
                                target: "palisade::fleet",
                                error = %e,
                                "fleet-wide detection counters cannot be exchanged; each sidecar \
                                 detects on its own traffic until Redis answers again"
                            );
                        }
                        failing = true;
                        None
                    }
                };
                if answers.send(counts).is_err() {
                    break;
                }
            }
        })
        .context("starting the fleet tally thread")?;
    Ok(palisade_analytics::TallyLink {
        to_fleet,
        from_fleet,
        every,
    })
}
