//! Owns the binary's side of the admin surface: `Control` over the running
//! sidecar (the block writer, the block table, the proxy's and analytics'
//! counters, the analytics worker's commands), the admin token's resolution and
//! the listener's start.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use palisade_analytics::{Command, Commands, Totals};
use palisade_dashboard::{AdminServer, AdminState, BlockRefused, Control, Counters, Token};
use palisade_models::{
    Allowlist, Block, BlockId, BlockScope, BlockTable, ClientName, ClientSummary, Config, DenyCode,
    NewBlock, SharedClock, Tee,
};
use palisade_proxy::ProxyStats;

use crate::app::BlockControl;

/// How long a client lookup waits for the analytics worker.
const CLIENT_QUERY_TIMEOUT: Duration = Duration::from_secs(1);

/// The running sidecar as the admin API sees it.
#[derive(Debug)]
pub struct AppControl {
    pub blocks: Arc<BlockControl>,
    pub table: BlockTable,
    pub tee: Arc<Tee>,
    pub proxy: Arc<ProxyStats>,
    pub totals: Option<Arc<Totals>>,
    pub commands: Arc<OnceLock<Commands>>,
    pub allow: Allowlist,
    pub clock: SharedClock,
    pub siem: palisade_siem::SiemHandle,
    pub fleet: Option<palisade_fleet::Fleet>,
    /// The OpenAPI spec, when one is configured, and the store's retention.
    pub spec: Option<(palisade_proxy::SpecHandle, Duration)>,
    /// Exports (batch analytics), when on.
    pub exporter: Option<palisade_batch::export::Exporter>,
}

impl Control for AppControl {
    fn siem(&self) -> palisade_models::SiemStatus {
        self.siem.status()
    }

    fn fleet(&self) -> palisade_models::FleetLinkStatus {
        self.fleet
            .as_ref()
            .map(palisade_fleet::Fleet::report)
            .unwrap_or_default()
    }

    fn spec(&self) -> Option<palisade_dashboard::SpecView> {
        let (handle, window) = self.spec.as_ref()?;
        Some(palisade_dashboard::SpecView {
            spec: handle.spec()?,
            window_ms: window.as_millis() as u64,
        })
    }

    fn export(
        &self,
        what: palisade_dashboard::Export,
    ) -> BoxFuture<'static, Result<palisade_dashboard::ExportFile, palisade_dashboard::ExportError>>
    {
        crate::batch::export(self.exporter.clone(), what)
    }

    fn active_blocks(&self) -> Vec<Arc<Block>> {
        let now = self.clock.now_ms();
        self.table
            .list()
            .into_iter()
            .filter(|b| b.is_active(now))
            .collect()
    }

    fn block(&self, block: NewBlock, actor: &str) -> Result<Block, BlockRefused> {
        if self.allow.covers(&block.scope) {
            return Err(BlockRefused::Allowlisted(block.scope.to_string()));
        }
        Ok(self.blocks.publish_as(block, actor))
    }

    fn unblock(&self, id: BlockId, actor: &str, reason: &str) -> Option<Block> {
        let removed = self.blocks.remove_as(id, actor, reason)?;
        if let Some(c) = self.commands.get() {
            c.send(Command::Lifted(removed.scope.clone()));
        }
        Some(removed)
    }

    fn allowlisted(&self, scope: &BlockScope) -> bool {
        self.allow.covers(scope)
    }

    fn client(&self, who: ClientName) -> BoxFuture<'static, Option<ClientSummary>> {
        let Some(commands) = self.commands.get().cloned() else {
            return futures_util::future::ready(None).boxed();
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sent = commands.send(Command::Client(
            who,
            Box::new(move |summary| {
                let _ = tx.send(summary);
            }),
        ));
        async move {
            if !sent {
                return None;
            }
            tokio::time::timeout(CLIENT_QUERY_TIMEOUT, rx)
                .await
                .ok()
                .and_then(Result::ok)
                .flatten()
        }
        .boxed()
    }

    fn counters(&self) -> Counters {
        let t = self
            .totals
            .as_ref()
            .map(|t| t.snapshot())
            .unwrap_or_default();
        Counters {
            requests_total: t.events,
            denied_total: t.denied,
            denies: DenyCode::ALL
                .iter()
                .map(|c| (c.as_str(), self.proxy.denied(*c)))
                .collect(),
            tee_capacity: self.tee.capacity() as u64,
            tee_dropped: self.tee.dropped(),
            connections_open: self
                .proxy
                .connections_open
                .load(std::sync::atomic::Ordering::Relaxed),
            send_timeouts: self
                .proxy
                .send_timeouts
                .load(std::sync::atomic::Ordering::Relaxed),
            analytics_up: self
                .totals
                .as_ref()
                .is_some_and(|t| !t.down.load(std::sync::atomic::Ordering::Acquire)),
            analytics_restarts: t.restarts,
            blocks_withheld: t.blocks_withheld,
            requests_in_flight: self
                .proxy
                .requests_in_flight
                .load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

/// A started admin listener.
#[derive(Debug)]
pub struct RunningAdmin {
    pub addr: SocketAddr,
    pub token: Arc<Token>,
    pub stop: CancellationToken,
    pub task: tokio::task::JoinHandle<()>,
}

/// Binds the admin listener and serves it. Refuses a non-loopback address
/// without a configured token.
pub fn start(
    config: &Config,
    state_for: impl FnOnce(Arc<Token>) -> AdminState,
) -> anyhow::Result<RunningAdmin> {
    let addr = *config.admin.listen.get();
    let token = Arc::new(Token::resolve(&config.admin, addr).context("admin token (admin.*)")?);
    let std_listener = std::net::TcpListener::bind(addr).with_context(|| {
        format!("binding the admin listener on {addr} (admin.listen; another Palisade may be running, or choose another port)")
    })?;
    std_listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(std_listener)?;
    let state = state_for(token.clone());
    let stop = state.stopping.clone();
    let server = AdminServer::new(listener, state);
    let addr = server.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = server.serve().await {
            tracing::error!(error = %e, "the admin listener failed");
        }
    });
    if token.generated() {
        // Never into the log: into a file only its owner can read.
        let dir = std::path::Path::new(&config.store.path)
            .parent()
            .unwrap_or(std::path::Path::new("."));
        let file = dir.join("admin-token");
        write_private(&file, token.reveal()).with_context(|| {
            format!(
                "writing the generated admin token to {} (or set {})",
                file.display(),
                config.admin.token_env
            )
        })?;
        tracing::info!(
            file = %file.display(),
            "admin token generated and written to this file (set {} to choose your own)",
            config.admin.token_env
        );
    }
    tracing::info!(%addr, token = %token.source, "admin listening (dashboard, API, /metrics)");
    Ok(RunningAdmin {
        addr,
        token,
        stop,
        task,
    })
}

/// Writes `text` to `path`, readable by its owner only.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")
}
