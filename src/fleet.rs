//! Owns the binary's side of the fleet link: the block writer as the link sees it
//! (`LocalBlocks`: what to share, how to enforce and lift what other sidecars
//! decided), and the join gate that keeps `/readyz` at 503 until this sidecar has
//! synchronised with its fleet or `fleet.join_timeout` passed.
//!
//! Must not hold the block writer's lock while talking to Redis: the link only
//! queues, and calls back from its own tasks.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use palisade_dashboard::Readiness;
use palisade_fleet::{FleetStatus, LocalBlocks};
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
