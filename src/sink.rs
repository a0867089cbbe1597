//! Owns where the analytics worker's results go: findings into the store (then the
//! log, the stats and the live feed), blocks through the one block writer, the
//! inventory and baselines on a timer, and the live view for the admin surface.
//! Runs on the analytics thread; the store's fsyncs happen here, never on the
//! request path.

use std::sync::Arc;

use arc_swap::ArcSwap;

use palisade_analytics::{Output, Sink};
use palisade_dashboard::{Feed, StatsKeeper};
use palisade_models::{EndpointInfo, Finding, LiveView, SharedClock};
use palisade_store::{Retention, Store};

use crate::app::BlockControl;

/// Findings kept in memory while the store refuses writes (a full disk), retried
/// with every delivery.
const MAX_UNSAVED_FINDINGS: usize = 100_000;
/// Name of the analytics baseline snapshot in the store.
pub const BASELINES: &str = "baselines";

/// Where the analytics worker's results go: findings into the store (and the log),
/// blocks through the one block writer.
pub struct StoreSink {
    pub store: Arc<Store>,
    pub blocks: Arc<BlockControl>,
    pub clock: SharedClock,
    /// Findings the store refused, kept for the next try.
    pub unsaved: Vec<Finding>,
    pub retention: Retention,
    pub feed: Arc<Feed>,
    pub stats: Arc<StatsKeeper>,
    /// Where the live view goes, when the admin listener runs.
    pub live: Option<Arc<ArcSwap<LiveView>>>,
}

impl Sink for StoreSink {
    fn deliver(&mut self, out: &mut Output) {
        // Findings first: a block must never be on disk without the finding that
        // explains it (a crash in between would leave one). It costs one fsync
        // before enforcement.
        for f in &out.findings {
            tracing::warn!(
                finding = %f.id,
                kind = %f.kind,
                severity = %f.severity,
                ip = ?f.client.ip,
                subject = f.client.subject.as_deref(),
                endpoint = f.endpoint.as_deref(),
                "{}",
                f.summary
            );
        }
        self.unsaved.append(&mut out.findings);
        match self.store.insert_findings(&self.unsaved) {
            Ok(()) => {
                // Stored: now operators may see them (and open them).
                for f in self.unsaved.drain(..) {
                    self.stats.found(&f);
                    self.feed.finding(&f);
                }
            }
            Err(e) => {
                if self.unsaved.len() > MAX_UNSAVED_FINDINGS {
                    let lost = self.unsaved.len() - MAX_UNSAVED_FINDINGS;
                    self.unsaved.drain(..lost);
                    tracing::error!(
                        lost,
                        "findings dropped: the store has refused writes for too long"
                    );
                }
                tracing::error!(
                    error = %e,
                    pending = self.unsaved.len(),
                    "findings not stored yet, kept in memory and retried; free disk space or fix the store"
                );
            }
        }
        for b in out.blocks.drain(..) {
            let scope = b.scope.to_string();
            let id = self.blocks.publish(b);
            tracing::warn!(block = id, %scope, "client blocked by analytics");
        }
    }

    fn persist(&mut self, inventory: Vec<EndpointInfo>, snapshot: Vec<u8>) {
        if let Err(e) = self
            .store
            .put_inventory(&inventory, &[(BASELINES, snapshot.as_slice())])
        {
            tracing::warn!(error = %e, "endpoint inventory not stored; retrying at the next interval");
        }
        if let Err(e) = self
            .store
            .apply_retention(self.clock.now_ms(), &self.retention)
        {
            tracing::warn!(error = %e, "retention not applied; retrying at the next interval");
        }
    }

    fn wants_live(&self) -> bool {
        self.live.is_some()
    }

    fn live(&mut self, view: LiveView) {
        if let Some(live) = &self.live {
            live.store(Arc::new(view));
        }
    }
}
