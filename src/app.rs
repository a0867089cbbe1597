//! Owns the wiring of one Palisade instance: the store, the tee, the block table
//! and its one writer (seeded with the stored blocks still in force and the config's
//! static blocks, swept of expired ones), the analytics worker with its engine and
//! the sink that persists findings and publishes blocks, the proxy, and the admin
//! listener (dashboard, API, metrics) fed by both; and their orderly stop (proxy
//! drains first, then analytics drains the tee and persists its baselines, so
//! nothing recorded is lost; the admin listener stops last).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

use palisade_analytics::{Engine, Totals, TotalsSnapshot, Worker as AnalyticsWorker, WorkerHandle};
use palisade_dashboard::{AdminState, Feed, Readiness, StatsKeeper, Token};
use palisade_fleet::{BlockLink, Fleet};
use palisade_models::block_table::BlockChange;
use palisade_models::{
    Block, BlockId, BlockOrigin, BlockTable, BlockWriter, Config, LiveView, NewBlock, SharedClock,
    SiemCategory, SystemClock, Tee,
};

use crate::admin::{self, AppControl, RunningAdmin};
use crate::sink::{BASELINES, StoreSink};
use palisade_proxy::{Proxy, ProxyDeps, ProxyStats, RunningProxy};
use palisade_siem::{Siem, SiemHandle};
use palisade_store::{AuditInfo, Retention, Store};

/// Config blocks are numbered from here, apart from the store's sequence: they are
/// not stored (the config file is their source) and must never share an id.
const CONFIG_BLOCK_IDS: BlockId = 1 << 62;

/// How often expired blocks are swept from the table.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// A running Palisade.
#[derive(Debug)]
pub struct Palisade {
    proxy: RunningProxy,
    analytics: Option<WorkerHandle>,
    tee: Arc<Tee>,
    blocks: Arc<BlockControl>,
    store: Arc<Store>,
    admin: Option<RunningAdmin>,
    stop_tasks: CancellationToken,
    siem: SiemHandle,
    stop_siem: CancellationToken,
    fleet: Option<Fleet>,
    /// The batch thread (issue 7), when batch analytics are on.
    batch: Option<palisade_batch::BatchHandle>,
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
/// unblocks (static config, analytics, later the admin API and the fleet). Every
/// block is stored (with an audit record) before the proxy sees it, so a restart
/// enforces it again. The mutex orders writers only: the proxy reads the table
/// without it.
#[derive(Debug)]
pub struct BlockControl {
    writer: Mutex<BlockWriter>,
    store: Arc<Store>,
    clock: SharedClock,
    feed: Arc<Feed>,
    /// Where blocks made here go to reach the other sidecars (fleet mode only).
    fleet: OnceLock<BlockLink>,
}

impl BlockControl {
    /// Stores and publishes a block; the proxy enforces it from its next request.
    /// If the store refuses (a full disk), the block is still enforced, until the
    /// next restart, and the error says so.
    pub fn publish(&self, block: NewBlock) -> BlockId {
        let who = match block.origin {
            BlockOrigin::Analytics => "analytics",
            BlockOrigin::Config => "config",
            BlockOrigin::Manual => "operator",
            BlockOrigin::Fleet => "fleet",
        };
        self.publish_as(block, who).id
    }

    /// `publish`, audited as done by `actor`; returns the block as enforced.
    pub fn publish_as(&self, block: NewBlock, actor: &str) -> Block {
        let audit = AuditInfo {
            actor: actor.into(),
            reason: block.reason.clone(),
            at_ms: self.clock.now_ms(),
        };
        let mut w = self.lock();
        let published = match self.store.insert_block(block.clone(), &audit) {
            Ok(stored) => {
                w.apply(vec![BlockChange::Put(stored.clone())]);
                stored
            }
            Err(e) => {
                tracing::error!(
                    error = %e,
                    scope = %block.scope,
                    "block enforced but not stored: it will not survive a restart; free disk space or fix the store"
                );
                let id = w.publish(block.clone());
                block.into_block(id)
            }
        };
        drop(w);
        self.feed.block(&published);
        if !matches!(published.origin, BlockOrigin::Fleet | BlockOrigin::Config)
            && let Some(link) = self.fleet.get()
        {
            link.published(&published);
        }
        published
    }

    /// Removes a block; returns it if it existed.
    pub fn remove(&self, id: BlockId) -> Option<Arc<Block>> {
        self.remove_as(id, "operator", "removed").map(Arc::new)
    }

    /// `remove`, audited as done by `actor` for `reason`; the fleet hears of it.
    pub fn remove_as(&self, id: BlockId, actor: &str, reason: &str) -> Option<Block> {
        let removed = self.lift(id, actor, reason)?;
        if let Some(link) = self.fleet.get() {
            link.lifted(&removed.scope, self.clock.now_ms());
        }
        Some(removed)
    }

    /// Removes a block lifted on another sidecar (not announced back).
    pub fn remove_from_fleet(&self, id: BlockId, actor: &str) -> Option<Block> {
        self.lift(id, actor, "lifted on another sidecar")
    }

    /// The blocks in force at `now_ms`.
    pub fn in_force(&self, now_ms: u64) -> Vec<Arc<Block>> {
        let list = self.lock().table().list();
        list.into_iter().filter(|b| b.is_active(now_ms)).collect()
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    fn lift(&self, id: BlockId, actor: &str, reason: &str) -> Option<Block> {
        let audit = AuditInfo {
            actor: actor.into(),
            reason: reason.into(),
            at_ms: self.clock.now_ms(),
        };
        let mut w = self.lock();
        let removed = w.remove(id)?;
        if let Err(e) = self.store.remove_block(id, &audit) {
            tracing::error!(error = %e, id, "block lifted but still stored: it returns after a restart");
        }
        drop(w);
        self.feed.unblock(&removed, actor, reason, false);
        Some((*removed).clone())
    }

    fn sweep(&self) -> usize {
        let now = self.clock.now_ms();
        if let Err(e) = self.store.sweep_blocks(now) {
            tracing::warn!(error = %e, "expired blocks not swept from the store; retrying");
        }
        let swept = self.lock().sweep(now);
        for b in &swept {
            self.feed.unblock(b, "sweeper", "expired", true);
        }
        swept.len()
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
        // Shared: the analytics supervisor rebuilds its engine from it.
        let config = Arc::new(self.config);
        let path = std::path::Path::new(&config.store.path);
        let store =
            Arc::new(Store::open(path).with_context(|| {
                format!("opening the store at {} (store.path)", path.display())
            })?);
        store.set_max_bytes(config.store.max_bytes);
        // Before any socket is bound: a sink's bad secret or certificate is a
        // config error, and the outbox must queue from the first record on.
        let siem =
            Siem::build(&config.siem, store.clone()).context("setting up SIEM forwarding")?;
        let fleet = if config.fleet.enabled {
            Some(Fleet::build(&config.fleet).context("setting up the fleet link")?)
        } else {
            None
        };
        let now = self.clock.now_ms();
        let stored = store.blocks().context("reading the stored blocks")?;
        let tee = Arc::new(Tee::new(config.tee.capacity));
        let (table, mut writer) = BlockTable::new();
        let restored: Vec<BlockChange> = stored
            .iter()
            .filter(|b| b.is_active(now))
            .cloned()
            .map(BlockChange::Put)
            .collect();
        if !restored.is_empty() {
            tracing::info!(blocks = restored.len(), "stored blocks enforced again");
            writer.apply(restored);
        }
        seed_static_blocks(&config, &mut writer, &self.clock);
        let proxy = Proxy::bind(
            &config,
            ProxyDeps {
                blocks: table.clone(),
                tee: tee.clone(),
                clock: self.clock.clone(),
                cluster: fleet.as_ref().map(|f| {
                    f.cluster_limiter(
                        config.fleet.cluster_limit_failure
                            == palisade_models::config::ClusterLimitFailure::Open,
                    )
                }),
            },
        )?
        .start()?;
        let feed = Arc::new(Feed::new(now));
        let stats = Arc::new(StatsKeeper::new(now));
        let live = Arc::new(ArcSwap::from_pointee(LiveView::default()));
        let url = config.upstream.url.get();
        let ready = Arc::new(Readiness::for_upstream(
            url.host_str()
                .unwrap_or("")
                .trim_matches(['[', ']'])
                .to_string(),
            url.port_or_known_default().unwrap_or(80),
        ));
        let blocks = Arc::new(BlockControl {
            writer: Mutex::new(writer),
            store: store.clone(),
            clock: self.clock.clone(),
            feed: feed.clone(),
            fleet: OnceLock::new(),
        });
        let stop_tasks = CancellationToken::new();
        if let Some(f) = &fleet {
            let link = f.spawn_block_sync(blocks.clone(), self.clock.clone(), stop_tasks.clone());
            let _ = blocks.fleet.set(link);
            tracing::info!(service = %config.fleet.service, instance = %f.instance(), "joining the fleet");
            tokio::spawn(crate::fleet::join_gate(
                f.status().clone(),
                ready.clone(),
                config.fleet.join_timeout.duration(),
                stop_tasks.clone(),
            ));
        }
        // Batch analytics (issue 7): the window the worker fills, the view the
        // engine reads, and the thread between them.
        let batch_parts = crate::batch::window(&config);
        let mut batch = None;
        let mut exporter = None;
        let analytics = if self.analytics {
            let mut worker = AnalyticsWorker::new(tee.clone(), self.clock.clone());
            if let Some((window, view)) = &batch_parts {
                let (handle, ex) = crate::batch::start(
                    &config,
                    window,
                    view.clone(),
                    store.clone(),
                    self.clock.clone(),
                )?;
                batch = Some(handle);
                exporter = Some(ex);
            }
            let batch_view = batch_parts.as_ref().map(|(_, v)| v.clone());
            if let Some((window, _)) = batch_parts {
                worker = worker.with_window(window);
            }
            if config.analytics.enabled {
                // Also what a crashed worker restarts on (analytics/src/supervise.rs):
                // baselines and decisions as last stored.
                let make_engine = {
                    let (config, store, clock) =
                        (config.clone(), store.clone(), self.clock.clone());
                    let instance = fleet.as_ref().map(|f| f.instance().to_string());
                    move || -> anyhow::Result<Engine> {
                        let mut engine = Engine::new(&config);
                        if let Some(v) = batch_view.clone() {
                            engine = engine.with_batch(v);
                        }
                        let snapshot =
                            store.snapshot(BASELINES).context("reading the baselines")?;
                        let stored = store.blocks().context("reading the stored blocks")?;
                        match engine.restore(snapshot.as_deref(), &stored, clock.now_ms()) {
                            Ok(n) if n > 0 => tracing::info!(endpoints = n, "baselines resumed"),
                            Ok(_) => {}
                            Err(e) => tracing::warn!("{e}"),
                        }
                        if let Some(i) = &instance {
                            engine = engine.with_fleet(i);
                        }
                        Ok(engine)
                    }
                };
                let engine = make_engine()?;
                worker = worker.with_rebuild(Box::new(move || {
                    make_engine()
                        .inspect_err(|e| tracing::error!(error = %format!("{e:#}"), "the analytics engine could not be rebuilt; it restarts with its old state"))
                        .ok()
                }));
                if let Some(f) = &fleet {
                    worker = worker.with_tally(crate::fleet::tally_link(
                        f.clone(),
                        config.analytics.client_window.duration(),
                        config.fleet.counter_interval.duration(),
                    )?);
                }
                let sink = StoreSink {
                    store: store.clone(),
                    blocks: blocks.clone(),
                    clock: self.clock.clone(),
                    retention: Retention {
                        max_age_ms: config.store.retention.duration().as_millis() as u64,
                        max_findings: config.store.max_findings,
                        max_audit: config.store.max_audit,
                    },
                    feed: feed.clone(),
                    stats: stats.clone(),
                    live: config.admin.enabled.then(|| live.clone()),
                };
                worker = worker.with_engine(
                    engine,
                    Box::new(sink),
                    config.store.persist_interval.duration(),
                );
            }
            Some(worker.spawn().context("starting the analytics worker")?)
        } else {
            None
        };
        tokio::spawn(sweep_blocks(blocks.clone(), stop_tasks.clone()));
        // The forwarders outlive the other tasks at shutdown, to send what the
        // analytics drain found.
        let stop_siem = CancellationToken::new();
        let siem = siem.spawn(self.clock.clone(), stop_siem.clone());
        if config.siem.forward_mask() & SiemCategory::Denied.bit() != 0 {
            tokio::spawn(crate::siem::denied_summaries(
                proxy.stats().clone(),
                store.clone(),
                self.clock.clone(),
                config.siem.denied_interval.duration(),
                stop_tasks.clone(),
            ));
        }
        let admin = if config.admin.enabled {
            let commands = Arc::new(OnceLock::new());
            if let Some(a) = &analytics {
                let _ = commands.set(a.commands().clone());
            }
            let control = Arc::new(AppControl {
                blocks: blocks.clone(),
                table,
                tee: tee.clone(),
                proxy: proxy.stats().clone(),
                totals: analytics.as_ref().map(|a| a.totals().clone()),
                commands,
                allow: palisade_models::Allowlist::new(&config.decisions),
                clock: self.clock.clone(),
                siem: siem.clone(),
                fleet: fleet.clone(),
                spec: proxy
                    .spec()
                    .map(|h| (h.clone(), config.store.retention.duration())),
                exporter,
            });
            let running = admin::start(&config, |token| AdminState {
                store: store.clone(),
                control,
                feed: feed.clone(),
                stats: stats.clone(),
                live: live.clone(),
                ready: ready.clone(),
                token,
                guard: Arc::new(palisade_dashboard::AuthGuard::new(
                    &config.admin,
                    self.clock.clone(),
                )),
                clock: self.clock.clone(),
                stopping: CancellationToken::new(),
            })?;
            let seeding = (stats.clone(), store.clone());
            tokio::task::spawn_blocking(move || {
                if let Err(e) = seeding.0.seed(&seeding.1) {
                    tracing::warn!(error = %e, "stored findings not counted for /api/stats");
                }
            });
            Some(running)
        } else {
            None
        };
        Ok(Palisade {
            proxy,
            analytics,
            tee,
            blocks,
            store,
            admin,
            stop_tasks,
            siem,
            stop_siem,
            fleet,
            batch,
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

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The admin listener's address (None when `admin.enabled` is false).
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|a| a.addr)
    }

    /// The admin bearer token (None when the admin listener is off).
    pub fn admin_token(&self) -> Option<&Arc<Token>> {
        self.admin.as_ref().map(|a| &a.token)
    }

    /// The analytics worker's running totals (None when it is not running).
    pub fn analytics_totals(&self) -> Option<&Arc<Totals>> {
        self.analytics.as_ref().map(WorkerHandle::totals)
    }

    /// The SIEM forwarders' status.
    pub fn siem(&self) -> &SiemHandle {
        &self.siem
    }

    /// The fleet link's health and counts (`enabled: false` when running alone).
    pub fn fleet(&self) -> palisade_models::FleetLinkStatus {
        self.fleet.as_ref().map(Fleet::report).unwrap_or_default()
    }

    pub fn proxy_stats(&self) -> &Arc<ProxyStats> {
        self.proxy.stats()
    }

    /// The OpenAPI spec in force and its reload (None without `[openapi] spec`).
    pub fn spec(&self) -> Option<&palisade_proxy::SpecHandle> {
        self.proxy.spec()
    }

    /// Stops accepting, lets in-flight requests finish within the grace period,
    /// then lets analytics drain the tee.
    pub async fn shutdown(self) -> Summary {
        self.stop_tasks.cancel();
        self.proxy.shutdown();
        self.proxy.stopped().await;
        // Analytics stops after the proxy: it drains what the proxy recorded while
        // draining.
        let totals = self.analytics.map(WorkerHandle::stop).unwrap_or_default();
        // After the worker sealed its last events: the last run writes them out.
        if let Some(b) = self.batch {
            let _ = tokio::task::spawn_blocking(move || b.stop()).await;
        }
        crate::siem::drain(&self.siem, crate::siem::DRAIN_GRACE).await;
        self.stop_siem.cancel();
        if let Some(admin) = self.admin {
            admin.stop.cancel();
            let _ = admin.task.await;
        }
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
        .enumerate()
        .filter_map(|(i, b)| {
            // Validation already rejected bad scopes; nothing is skipped in practice.
            let scope = b.scope().ok()?;
            let block = NewBlock {
                scope,
                reason: b.reason.as_str().into(),
                origin: BlockOrigin::Config,
                created_ms: now,
                expires_ms: b
                    .ttl
                    .as_ref()
                    .map(|t| now + t.duration().as_millis() as u64),
                finding: None,
            };
            Some(BlockChange::Put(
                block.into_block(CONFIG_BLOCK_IDS + i as BlockId),
            ))
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
                let b = blocks.clone();
                // The store fsyncs: keep it off the runtime's threads.
                let swept = tokio::task::spawn_blocking(move || b.sweep()).await.unwrap_or(0);
                if swept > 0 {
                    tracing::debug!(swept, "expired blocks swept");
                }
            }
        }
    }
}
