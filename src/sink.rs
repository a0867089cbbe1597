//! Owns where the analytics worker's results go: findings into the store (then the
//! log, the stats and the live feed), blocks through the one block writer, the
//! inventory and baselines on a timer, and the live view for the admin surface.
//! Runs on the analytics thread; the store's fsyncs happen here, never on the
//! request path. When the store refuses writes (its quota, `store.max_bytes`, or
//! a full disk) findings are held in memory by the store itself and still shown,
//! counted and acted on: this file says so loudly, once when it starts and at
//! every persist interval while it lasts, and once when it ends.

use std::sync::Arc;

use arc_swap::ArcSwap;

use palisade_analytics::{Output, Sink};
use palisade_dashboard::{Feed, StatsKeeper};
use palisade_models::{EndpointInfo, Finding, LiveView, SharedClock};
use palisade_store::{Retention, Saved, Store};

use crate::app::BlockControl;

/// Name of the analytics baseline snapshot in the store.
pub const BASELINES: &str = "baselines";

/// Where the analytics worker's results go: findings into the store (and the log),
/// blocks through the one block writer.
pub struct StoreSink {
    pub store: Arc<Store>,
    pub blocks: Arc<BlockControl>,
    pub clock: SharedClock,
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
        let new: Vec<Finding> = out.findings.drain(..).collect();
        if !new.is_empty() {
            let was = self.store.health().degraded;
            if let Saved::Memory(e) = self.store.save_findings(new.clone())
                && !was
            {
                degraded(&e);
            }
            if was {
                self.resumed_if_so();
            }
            // Stored, or held in memory where the admin API reads them too:
            // operators may see them (and open them) either way.
            for f in &new {
                self.stats.found(f);
                self.feed.finding(f);
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
        if self.store.health().degraded {
            // Retention may have freed space: write what memory holds.
            if let Saved::Memory(e) = self.store.save_findings(Vec::new()) {
                let h = self.store.health();
                tracing::error!(
                    error = %e,
                    held_in_memory = h.memory_findings,
                    unpersisted = h.unpersisted,
                    lost = h.lost,
                    "the store still refuses writes: Palisade runs memory-only (detection, blocks and the dashboard go on; findings are not durable and reach the SIEM only once written); raise store.max_bytes, shorten store.retention or free disk space"
                );
            }
            self.resumed_if_so();
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

impl StoreSink {
    /// Says so when the store has just left memory-only mode.
    fn resumed_if_so(&self) {
        let h = self.store.health();
        if !h.degraded {
            tracing::warn!(
                unpersisted = h.unpersisted,
                lost = h.lost,
                "the store accepts writes again: findings held in memory are written, and forwarded to the SIEM"
            );
        }
    }
}

/// The first refusal: an error that tells the operator what happened and what to do.
fn degraded(e: &palisade_store::StoreError) {
    tracing::error!(
        error = %e,
        "the store refuses writes: Palisade continues memory-only (requests are served, detection and blocks go on, findings stay visible in the dashboard, up to 10000 held in memory) but findings are not durable and reach the SIEM only once written; raise store.max_bytes (restart), shorten store.retention or free disk space"
    );
}
