//! Owns what the admin handlers reach: the store, the running sidecar behind the
//! `Control` trait (the binary implements it over the block writer, the proxy's
//! counters and the analytics worker), the live feed, the stats keeper, the
//! analytics live view and readiness.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;
use palisade_models::{
    Block, BlockId, BlockScope, ClientName, ClientSummary, LiveView, NewBlock, SharedClock,
};
use palisade_store::Store;

use crate::auth::Token;
use crate::feed::Feed;
use crate::guard::AuthGuard;
use crate::stats::StatsKeeper;

/// Counters of the running sidecar, read once a second and on each scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// Exchanges the analytics worker has counted.
    pub requests_total: u64,
    /// Of those, refused by Palisade.
    pub denied_total: u64,
    /// Denials by reason (`DenyCode` names), every reason listed.
    pub denies: Vec<(&'static str, u64)>,
    pub tee_capacity: u64,
    /// Events dropped because the tee was full.
    pub tee_dropped: u64,
    pub connections_open: u64,
    /// Connections cut because the client stopped reading (`proxy.timeouts.send`).
    pub send_timeouts: u64,
    /// True while the analytics worker drains the tee (false: not started, or
    /// crashed and waiting to restart).
    pub analytics_up: bool,
    /// Times the analytics worker crashed and was restarted.
    pub analytics_restarts: u64,
    /// Analytics blocks not made because `decisions.max_blocks` were in force.
    pub blocks_withheld: u64,
    /// Requests admitted by the proxy and not yet answered to their end.
    pub requests_in_flight: u64,
}

/// Why a manual block was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockRefused {
    /// The client is on an allowlist (`decisions.allow_*`).
    #[error(
        "{0} is allowlisted (decisions.allow_cidrs / allow_subjects / allow_api_keys): remove it from the allowlist first"
    )]
    Allowlisted(String),
}

/// The running sidecar, as the admin surface sees it.
pub trait Control: Send + Sync + 'static {
    /// The blocks in force now, newest first.
    fn active_blocks(&self) -> Vec<Arc<Block>>;
    /// Stores (with an audit record by `actor`) and publishes a block.
    fn block(&self, block: NewBlock, actor: &str) -> Result<Block, BlockRefused>;
    /// Removes a block (audited); None if it was not in force.
    fn unblock(&self, id: BlockId, actor: &str, reason: &str) -> Option<Block>;
    /// Whether `scope` covers an allowlisted client.
    fn allowlisted(&self, scope: &BlockScope) -> bool;
    /// A tracked client's live summary; None if analytics does not track it or
    /// does not answer within a second.
    fn client(
        &self,
        who: ClientName,
    ) -> futures_util::future::BoxFuture<'static, Option<ClientSummary>>;
    fn counters(&self) -> Counters;
    /// The SIEM sinks and the outbox.
    fn siem(&self) -> palisade_models::SiemStatus;
    /// The fleet link (`enabled: false` when the sidecar runs alone).
    fn fleet(&self) -> palisade_models::FleetLinkStatus {
        palisade_models::FleetLinkStatus::default()
    }
    /// The OpenAPI spec in force, for drift; None without one.
    fn spec(&self) -> Option<SpecView> {
        None
    }
    /// Events or findings as one Parquet file (`/api/export`). Default: refused,
    /// for a sidecar without batch analytics.
    fn export(
        &self,
        _what: Export,
    ) -> futures_util::future::BoxFuture<'static, Result<ExportFile, ExportError>> {
        Box::pin(async {
            Err(ExportError::Unavailable(
                "exports need batch analytics: set [batch] enabled = true".into(),
            ))
        })
    }
}

/// The OpenAPI spec in force and the window "unused" is judged over.
#[derive(Debug, Clone)]
pub struct SpecView {
    pub spec: Arc<palisade_openapi::Spec>,
    /// Operations not called within this long are unused (the store's
    /// retention), in milliseconds.
    pub window_ms: u64,
}

/// What `/api/export` asks for; times in ms since the epoch, `since` included,
/// `until` not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Export {
    Events {
        since_ms: u64,
        until_ms: u64,
    },
    /// Of these kinds; every kind when empty.
    Findings {
        since_ms: u64,
        until_ms: u64,
        kinds: Vec<palisade_models::FindingKind>,
    },
}

/// A made export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFile {
    /// The Parquet file.
    pub bytes: Vec<u8>,
    /// Rows in it.
    pub rows: u64,
}

/// Why an export was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// This sidecar cannot export (batch analytics off).
    #[error("{0}")]
    Unavailable(String),
    /// Making the file failed; the detail is in the log.
    #[error("{0}")]
    Failed(String),
}

/// What `/readyz` reports.
#[derive(Debug, Default)]
pub struct Readiness {
    /// At least one connection to the upstream succeeded since start.
    pub upstream: AtomicBool,
    /// Where the upstream listens (`host`, `port`); tried when `/readyz` is asked
    /// and it has not answered yet. None: not tried (tests set `upstream`).
    pub target: Option<(String, u16)>,
    /// True while the sidecar is joining its fleet (first synchronisation, at most
    /// `fleet.join_timeout`): not ready yet.
    pub fleet_joining: AtomicBool,
}

/// How long `/readyz` waits for the upstream to accept a connection.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

impl Readiness {
    /// Readiness that probes `host:port` until it answers once.
    pub fn for_upstream(host: String, port: u16) -> Self {
        Self {
            upstream: AtomicBool::new(false),
            target: Some((host, port)),
            fleet_joining: AtomicBool::new(false),
        }
    }

    pub fn upstream_reached(&self) {
        self.upstream.store(true, Ordering::Release);
    }

    /// True once the upstream accepted a connection; tries now if it has not.
    /// Probed only on demand, so an idle sidecar makes no extra connections.
    pub async fn upstream(&self) -> bool {
        if self.upstream.load(Ordering::Acquire) {
            return true;
        }
        let Some((host, port)) = &self.target else {
            return false;
        };
        let connect = tokio::net::TcpStream::connect((host.as_str(), *port));
        match tokio::time::timeout(PROBE_TIMEOUT, connect).await {
            Ok(Ok(_)) => {
                self.upstream_reached();
                true
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, upstream = %format!("{host}:{port}"), "readyz: the upstream does not accept connections");
                false
            }
            Err(_) => false,
        }
    }
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AdminState {
    pub store: Arc<Store>,
    pub control: Arc<dyn Control>,
    pub feed: Arc<Feed>,
    pub stats: Arc<StatsKeeper>,
    pub live: Arc<ArcSwap<LiveView>>,
    pub ready: Arc<Readiness>,
    pub token: Arc<Token>,
    /// Wrong-token counting and lockouts (`guard.rs`).
    pub guard: Arc<AuthGuard>,
    pub clock: SharedClock,
    /// Cancelled when the admin server stops: ends the live streams.
    pub stopping: tokio_util::sync::CancellationToken,
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminState").finish_non_exhaustive()
    }
}
