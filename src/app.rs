//! Owns the wiring of one Palisade instance: the tee, the block table and its one
//! writer (seeded with the config's static blocks, swept of expired ones), the
//! analytics worker, and the proxy; and their orderly stop (proxy drains first,
//! then analytics drains the tee, so nothing recorded is lost).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use palisade_analytics::{TotalsSnapshot, Worker as AnalyticsWorker, WorkerHandle};
use palisade_models::block_table::BlockChange;
use palisade_models::{
    Block, BlockId, BlockOrigin, BlockTable, BlockWriter, Config, NewBlock, SharedClock,
    SystemClock, Tee,
};
use palisade_proxy::{Proxy, ProxyDeps, ProxyStats, RunningProxy};

/// How often expired blocks are swept from the table.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// A running Palisade.
#[derive(Debug)]
pub struct Palisade {
    proxy: RunningProxy,
    analytics: Option<WorkerHandle>,
    tee: Arc<Tee>,
    blocks: Arc<BlockControl>,
    stop_sweeper: CancellationToken,
}

/// Options for starting Palisade; tests use them to inject a clock or hold the
/// analytics worker back.
#[derive(Debug)]
pub struct PalisadeBuilder {
    config: Config,
    clock: SharedClock,
    analytics: bool,
}

/// The single writer of the block table, shared by everything that blocks and
/// unblocks (static config now; analytics, the admin API and the fleet later).
/// The mutex orders writers only: the proxy reads the table without it.
#[derive(Debug)]
pub struct BlockControl {
    writer: Mutex<BlockWriter>,
    clock: SharedClock,
}

impl BlockControl {
    /// Publishes a block; the proxy enforces it from its next request.
    pub fn publish(&self, block: NewBlock) -> BlockId {
        self.lock().publish(block)
    }

    /// Removes a block; returns it if it existed.
    pub fn remove(&self, id: BlockId) -> Option<Arc<Block>> {
        self.lock().remove(id)
    }

    fn sweep(&self) -> usize {
        let now = self.clock.now_ms();
        self.lock().sweep(now).len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BlockWriter> {
        // A panic while holding the writer leaves the table as last swapped, which is
        // consistent: every change is one atomic swap.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl PalisadeBuilder {
    pub fn new(config: Config) -> Self {
        Self {
            config,
            clock: Arc::new(SystemClock::new()),
            analytics: true,
        }
    }

    /// Judges block expiry by `clock` instead of the system's.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Whether to start the analytics worker (the tee's consumer). Default: true.
    pub fn analytics(mut self, on: bool) -> Self {
        self.analytics = on;
        self
    }

    /// Binds the listeners and starts everything. Must run inside a tokio runtime.
    pub fn start(self) -> anyhow::Result<Palisade> {
        let config = self.config;
        let tee = Arc::new(Tee::new(config.tee.capacity));
        let (table, mut writer) = BlockTable::new();
        seed_static_blocks(&config, &mut writer, &self.clock);
        let proxy = Proxy::bind(
            &config,
            ProxyDeps {
                blocks: table,
                tee: tee.clone(),
                clock: self.clock.clone(),
            },
        )?
        .start()?;
        let analytics = if self.analytics {
            Some(
                AnalyticsWorker::new(tee.clone())
                    .spawn()
                    .context("starting the analytics worker")?,
            )
        } else {
            None
        };
        let blocks = Arc::new(BlockControl {
            writer: Mutex::new(writer),
            clock: self.clock,
        });
        let stop_sweeper = CancellationToken::new();
        tokio::spawn(sweep_blocks(blocks.clone(), stop_sweeper.clone()));
        Ok(Palisade {
            proxy,
            analytics,
            tee,
            blocks,
            stop_sweeper,
        })
    }
}

impl Palisade {
    pub fn plain_addrs(&self) -> &[SocketAddr] {
        self.proxy.plain_addrs()
    }

    pub fn tls_addrs(&self) -> &[SocketAddr] {
        self.proxy.tls_addrs()
    }

    pub fn tee(&self) -> &Arc<Tee> {
        &self.tee
    }

    pub fn blocks(&self) -> &Arc<BlockControl> {
        &self.blocks
    }

    pub fn proxy_stats(&self) -> &Arc<ProxyStats> {
        self.proxy.stats()
    }

    /// Stops accepting, lets in-flight requests finish within the grace period,
    /// then lets analytics drain the tee.
    pub async fn shutdown(self) -> Summary {
        self.stop_sweeper.cancel();
        self.proxy.shutdown();
        self.proxy.stopped().await;
        // Analytics stops last: it drains what the proxy recorded while draining.
        let totals = self.analytics.map(WorkerHandle::stop).unwrap_or_default();
        Summary {
            totals,
            dropped: self.tee.dropped(),
        }
    }
}

/// What a stopped Palisade reports.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// What the analytics worker processed.
    pub totals: TotalsSnapshot,
    /// Events dropped because the tee was full.
    pub dropped: u64,
}

fn seed_static_blocks(config: &Config, writer: &mut BlockWriter, clock: &SharedClock) {
    let now = clock.now_ms();
    let changes = config
        .blocks
        .iter()
        .filter_map(|b| {
            // Validation already rejected bad scopes; nothing is skipped in practice.
            let scope = b.scope().ok()?;
            Some(BlockChange::Add(NewBlock {
                scope,
                reason: b.reason.as_str().into(),
                origin: BlockOrigin::Config,
                created_ms: now,
                expires_ms: b
                    .ttl
                    .as_ref()
                    .map(|t| now + t.duration().as_millis() as u64),
            }))
        })
        .collect::<Vec<_>>();
    if !changes.is_empty() {
        writer.apply(changes);
    }
}

async fn sweep_blocks(blocks: Arc<BlockControl>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {
                let swept = blocks.sweep();
                if swept > 0 {
                    tracing::debug!(swept, "expired blocks swept");
                }
            }
        }
    }
}
