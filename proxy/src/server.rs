//! Owns the proxy's lifecycle: binding listeners (after every check that can fail
//! without a socket), the worker threads (each a single-threaded tokio runtime
//! with its own upstream pool, accepting from shared listening sockets, as nginx
//! workers do), and shutdown (stop accepting, drain in-flight requests within the
//! grace period, then cut what is left).
//!
//! Must not bind anything before the TLS material and settings are known good.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use palisade_models::{BlockTable, Config, SharedClock, Tee};

use crate::auth::ApiKeys;
use crate::conn;
use crate::error::ProxyError;
use crate::jwt::JwtVerifier;
use crate::limits::{RateLimits, SweeperHandle, start_sweeper};
use crate::login::Salt;
use crate::openapi::{self, SpecHandle, Stamp, WatcherHandle};
use crate::routes::{RouteSource, RouteTable};
use crate::settings::Settings;
use crate::stats::{ProxyStats, Throttle};
use crate::tls;
use crate::upstream::{Upstream, UpstreamTls, upstream_tls};
use arc_swap::ArcSwap;
use palisade_openapi::SpecOptions;
use palisade_signatures::{Engine, EngineOptions, Scratch};

/// Backlog of each listening socket.
const BACKLOG: i32 = 1024;

/// What the proxy shares with the rest of Palisade.
#[derive(Debug, Clone)]
pub struct ProxyDeps {
    /// The block table the block phase reads.
    pub blocks: BlockTable,
    /// Where the record phase writes events.
    pub tee: Arc<Tee>,
    /// The clock block expiry is judged by.
    pub clock: SharedClock,
    /// The fleet's shared buckets, for `scope = "cluster"` limits (fleet mode).
    pub cluster: Option<Arc<dyn palisade_models::cluster::ClusterLimiter>>,
}

/// State shared by all workers, read-only on the request path.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) settings: Settings,
    /// Swapped whole when the OpenAPI spec is reloaded; each request loads it
    /// once and keeps that table to its end.
    pub(crate) routes: Arc<ArcSwap<RouteTable>>,
    pub(crate) api_keys: ApiKeys,
    /// Shared by all workers: a client's limit holds across connections and
    /// workers, so its state is one concurrent table, not one per worker.
    pub(crate) limits: Arc<RateLimits>,
    /// The fleet's shared buckets (fleet mode only).
    pub(crate) cluster: Option<Arc<dyn palisade_models::cluster::ClusterLimiter>>,
    /// The attack-signature engine; None when no route inspects.
    pub(crate) signatures: Option<Arc<Engine>>,
    /// Request body bytes the engine inspects (`signatures.body_bytes`).
    pub(crate) inspect_body_bytes: usize,
    /// How the inspect phase treats compressed request bodies.
    pub(crate) encoded_bodies: crate::phases::inspect::EncodedBodies,
    /// Largest JSON body validated against an OpenAPI operation
    /// (`openapi.max_body_bytes`).
    pub(crate) validate_body_bytes: usize,
    /// Verifies bearer tokens; None when no JWT key is configured.
    pub(crate) jwt: Option<JwtVerifier>,
    /// The key of login username hashes.
    pub(crate) salt: Salt,
    pub(crate) blocks: BlockTable,
    pub(crate) tee: Arc<Tee>,
    pub(crate) clock: SharedClock,
    pub(crate) stats: Arc<ProxyStats>,
}

/// One worker thread's view: the shared state plus its own upstream pool and
/// protocol builders.
#[derive(Debug)]
pub(crate) struct Worker {
    pub(crate) shared: Arc<Shared>,
    pub(crate) upstream: Arc<Upstream>,
    pub(crate) h1: http1::Builder,
    pub(crate) h2: http2::Builder<TokioExecutor>,
    pub(crate) upstream_warnings: Throttle,
    /// One warning a second while requests are shed (`max_in_flight`).
    pub(crate) shed_warnings: Throttle,
    /// The signature engine's working memory; only this worker's thread uses it.
    pub(crate) scratch: std::sync::Mutex<Scratch>,
}

/// A proxy whose sockets are bound, not yet serving.
pub struct Proxy {
    shared: Arc<Shared>,
    listeners: Vec<Listener>,
    acceptor: Option<TlsAcceptor>,
    upstream_tls: Option<UpstreamTls>,
    sweep_every: std::time::Duration,
    spec: Option<SpecHandle>,
    reload_every: Option<std::time::Duration>,
}

#[derive(Debug)]
struct Listener {
    socket: std::net::TcpListener,
    addr: SocketAddr,
    tls: bool,
}

/// A serving proxy.
#[derive(Debug)]
pub struct RunningProxy {
    shutdown: CancellationToken,
    workers: Vec<(JoinHandle<()>, oneshot::Receiver<()>)>,
    plain_addrs: Vec<SocketAddr>,
    tls_addrs: Vec<SocketAddr>,
    stats: Arc<ProxyStats>,
    /// Stops the rate-limit sweeper when the proxy is dropped.
    _sweeper: Option<SweeperHandle>,
    spec: Option<SpecHandle>,
    /// Stops the spec watcher when the proxy is dropped.
    _watcher: Option<WatcherHandle>,
}

/// Checks everything `Proxy::bind` would, without binding: settings, TLS material.
pub fn preflight(config: &Config) -> Result<(), ProxyError> {
    Built::from_config(config, Arc::new(palisade_models::SystemClock::new())).map(|_| ())
}

/// Everything the proxy builds from a config before it binds a socket.
/// `preflight` builds it and drops it, `bind` keeps it: one list, so a check
/// cannot be added to one and forgotten in the other.
struct Built {
    settings: Settings,
    routes: RouteTable,
    source: RouteSource,
    /// The spec file's version in force, when one is configured.
    stamp: Option<Stamp>,
    api_keys: ApiKeys,
    limits: Arc<RateLimits>,
    salt: Salt,
    jwt: Option<JwtVerifier>,
    signatures: Option<Arc<Engine>>,
    acceptor: Option<TlsAcceptor>,
    upstream_tls: Option<UpstreamTls>,
}

impl Built {
    fn from_config(config: &Config, clock: SharedClock) -> Result<Built, ProxyError> {
        let settings = Settings::from_config(config)?;
        let limits = Arc::new(RateLimits::build(config, clock.clone())?);
        let source = RouteSource::from_config(config);
        let (spec, stamp) = match &config.openapi.spec {
            Some(path) => {
                let (spec, stamp) =
                    openapi::load(path, &SpecOptions::from_config(&config.openapi))?;
                (Some(Arc::new(spec)), Some(stamp))
            }
            None => (None, None),
        };
        let routes = RouteTable::build_from(&source, spec, &limits, None)?;
        let signatures = signature_engine(config, &source)?;
        let (acceptor, upstream_tls) = prepare_tls(config, &settings)?;
        Ok(Built {
            api_keys: ApiKeys::build(config)?,
            limits,
            source,
            stamp,
            salt: Salt::from_config(config)?,
            jwt: jwt_verifier(config, clock)?,
            settings,
            routes,
            signatures,
            acceptor,
            upstream_tls,
        })
    }
}

fn signature_engine(
    config: &Config,
    routes: &RouteSource,
) -> Result<Option<Arc<Engine>>, ProxyError> {
    if !routes.inspects() {
        return Ok(None);
    }
    build_signature_engine(config).map(|e| Some(Arc::new(e)))
}

/// The signature engine as the config's `[signatures]` sets it up: bundled
/// rules plus `rules_files`, less `disable`.
pub fn build_signature_engine(config: &Config) -> Result<Engine, ProxyError> {
    let s = &config.signatures;
    let options = EngineOptions {
        paranoia: s.paranoia,
        threshold: s.threshold,
        disabled: s.disable.clone(),
        body_bytes: s.body_bytes,
    };
    let files: Vec<&std::path::Path> = s.rules_files.iter().map(|p| p.as_path()).collect();
    Engine::with_rule_files(&files, options).map_err(|e| ProxyError::Config {
        key: "signatures",
        message: e.to_string(),
    })
}

fn jwt_verifier(config: &Config, clock: SharedClock) -> Result<Option<JwtVerifier>, ProxyError> {
    let v = JwtVerifier::build(&config.auth.jwt, clock)?;
    Ok(v.has_keys().then_some(v))
}

fn prepare_tls(
    config: &Config,
    settings: &Settings,
) -> Result<(Option<TlsAcceptor>, Option<UpstreamTls>), ProxyError> {
    let acceptor = match &config.proxy.tls {
        Some(t) => Some(TlsAcceptor::from(tls::server_config(t)?)),
        None => None,
    };
    let https = settings.upstream.scheme == http::uri::Scheme::HTTPS;
    let client = tls::client_config(config.upstream.ca_bundle.as_deref(), https)?;
    Ok((acceptor, upstream_tls(&settings.upstream, client)?))
}

impl Proxy {
    /// Prepares TLS, then binds every listener.
    pub fn bind(config: &Config, deps: ProxyDeps) -> Result<Proxy, ProxyError> {
        let Built {
            settings,
            routes,
            source,
            stamp,
            api_keys,
            limits,
            salt,
            jwt,
            signatures,
            acceptor,
            upstream_tls,
        } = Built::from_config(config, deps.clock.clone())?;
        let routes = Arc::new(ArcSwap::from_pointee(routes));
        let spec = match (&config.openapi.spec, stamp) {
            (Some(path), Some(stamp)) => Some(SpecHandle::new(
                path.clone(),
                SpecOptions::from_config(&config.openapi),
                source,
                routes.clone(),
                limits.clone(),
                stamp,
            )),
            _ => None,
        };
        let sweep_every = config.rate_limits.sweep_interval.duration();
        let mut listeners = Vec::new();
        let plain = settings.plain_listen.iter().map(|a| (a, false));
        let secure = settings.tls_listen.iter().map(|a| (a, true));
        for (addr, tls) in plain.chain(secure) {
            let socket = listen(*addr).map_err(|source| ProxyError::Bind {
                addr: *addr,
                source,
            })?;
            let addr = socket.local_addr().map_err(|source| ProxyError::Bind {
                addr: *addr,
                source,
            })?;
            listeners.push(Listener { socket, addr, tls });
        }
        Ok(Proxy {
            shared: Arc::new(Shared {
                settings,
                routes,
                api_keys,
                limits,
                cluster: deps.cluster,
                salt,
                jwt,
                signatures,
                inspect_body_bytes: config.signatures.body_bytes,
                encoded_bodies: crate::phases::inspect::EncodedBodies {
                    keep: config.signatures.body_bytes,
                    undecodable: config.signatures.undecodable_bodies,
                    max_ratio: config.signatures.max_compression_ratio,
                },
                validate_body_bytes: config.openapi.max_body_bytes,
                blocks: deps.blocks,
                tee: deps.tee,
                clock: deps.clock,
                stats: Arc::default(),
            }),
            listeners,
            acceptor,
            upstream_tls,
            sweep_every,
            spec,
            reload_every: config.openapi.reload_every(),
        })
    }

    /// Addresses of the plain-HTTP listeners, as bound (port 0 resolved).
    pub fn plain_addrs(&self) -> Vec<SocketAddr> {
        self.addrs(false)
    }

    /// Addresses of the HTTPS listeners, as bound.
    pub fn tls_addrs(&self) -> Vec<SocketAddr> {
        self.addrs(true)
    }

    fn addrs(&self, tls: bool) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter(|l| l.tls == tls)
            .map(|l| l.addr)
            .collect()
    }

    /// Starts the worker threads.
    pub fn start(self) -> Result<RunningProxy, ProxyError> {
        let plain_addrs = self.plain_addrs();
        let tls_addrs = self.tls_addrs();
        let shutdown = CancellationToken::new();
        let sweeper = if self.shared.limits.is_empty() {
            None
        } else {
            Some(start_sweeper(self.shared.limits.clone(), self.sweep_every)?)
        };
        let watcher = match (&self.spec, self.reload_every) {
            (Some(spec), Some(every)) => Some(openapi::start_watcher(spec.clone(), every)?),
            _ => None,
        };
        let n = self.shared.settings.workers.max(1);
        let mut workers = Vec::with_capacity(n);
        for i in 0..n {
            let mut sockets = Vec::with_capacity(self.listeners.len());
            for l in &self.listeners {
                let socket = l.socket.try_clone().map_err(ProxyError::Worker)?;
                sockets.push((socket, l.tls));
            }
            let (done_tx, done_rx) = oneshot::channel();
            let job = WorkerJob {
                sockets,
                shared: self.shared.clone(),
                acceptor: self.acceptor.clone(),
                upstream_tls: self.upstream_tls.clone(),
                shutdown: shutdown.clone(),
                housekeeping: i == 0,
            };
            let handle = std::thread::Builder::new()
                .name(format!("palisade-proxy-{i}"))
                .spawn(move || {
                    job.run();
                    let _ = done_tx.send(());
                })
                .map_err(ProxyError::Worker)?;
            workers.push((handle, done_rx));
        }
        Ok(RunningProxy {
            shutdown,
            workers,
            plain_addrs,
            tls_addrs,
            stats: self.shared.stats.clone(),
            _sweeper: sweeper,
            spec: self.spec,
            _watcher: watcher,
        })
    }
}

impl RunningProxy {
    pub fn plain_addrs(&self) -> &[SocketAddr] {
        &self.plain_addrs
    }

    pub fn tls_addrs(&self) -> &[SocketAddr] {
        &self.tls_addrs
    }

    pub fn stats(&self) -> &Arc<ProxyStats> {
        &self.stats
    }

    /// The OpenAPI spec in force and the means to reload it; None without
    /// `[openapi] spec`.
    pub fn spec(&self) -> Option<&SpecHandle> {
        self.spec.as_ref()
    }

    /// Stops accepting and lets in-flight requests finish (up to the grace period).
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Waits until every worker has stopped.
    pub async fn stopped(mut self) {
        for (_, done) in &mut self.workers {
            let _ = done.await;
        }
        for (handle, _) in self.workers.drain(..) {
            let _ = handle.join();
        }
    }
}

impl Drop for RunningProxy {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("listeners", &self.listeners)
            .field("tls", &self.acceptor.is_some())
            .finish_non_exhaustive()
    }
}

/// Everything a worker thread needs.
struct WorkerJob {
    sockets: Vec<(std::net::TcpListener, bool)>,
    shared: Arc<Shared>,
    acceptor: Option<TlsAcceptor>,
    upstream_tls: Option<UpstreamTls>,
    shutdown: CancellationToken,
    /// The first worker also runs background jobs that need a runtime (JWKS
    /// refresh); they are async and never block its connections.
    housekeeping: bool,
}

impl WorkerJob {
    fn run(self) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error = %e, "cannot start a proxy worker runtime");
                self.shutdown.cancel();
                return;
            }
        };
        runtime.block_on(self.serve());
        // Dropping the runtime cuts the connections still open after the grace period.
    }

    async fn serve(self) {
        let s = &self.shared.settings;
        let mut h1 = http1::Builder::new();
        h1.header_read_timeout(None)
            .max_headers(s.max_header_count)
            .max_header_size(s.max_header_bytes)
            // hyper buffers up to this much of a response a client has not read
            // (default ~400 KiB): with 10,000 slow readers that was 4 GiB. A head
            // must still fit, so the cap follows max_header_bytes.
            .max_buf_size(h1_buf_size(s.max_header_bytes))
            .keep_alive(true);
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .max_header_list_size(s.max_header_bytes as u32)
            .max_concurrent_streams(256);
        let worker = Arc::new(Worker {
            upstream: Upstream::new(s.upstream.clone(), self.upstream_tls.clone()),
            shared: self.shared.clone(),
            h1,
            h2,
            upstream_warnings: Throttle::default(),
            shed_warnings: Throttle::default(),
            scratch: std::sync::Mutex::default(),
        });
        if self.housekeeping
            && let Some(jwt) = &self.shared.jwt
        {
            tokio::spawn(jwt.jwks_refresher(self.shutdown.clone()));
        }
        let connections = TaskTracker::new();
        let mut accepting = Vec::new();
        for (socket, tls) in self.sockets {
            let listener = match TcpListener::from_std(socket) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, "cannot register a listener; stopping");
                    self.shutdown.cancel();
                    break;
                }
            };
            let acceptor = if tls { self.acceptor.clone() } else { None };
            accepting.push(tokio::spawn(accept_loop(
                listener,
                acceptor,
                worker.clone(),
                connections.clone(),
                self.shutdown.clone(),
            )));
        }
        self.shutdown.cancelled().await;
        for a in accepting {
            let _ = a.await;
        }
        connections.close();
        let grace = worker.shared.settings.shutdown_grace;
        if tokio::time::timeout(grace, connections.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                open = connections.len(),
                "shutdown grace period over; closing connections still open"
            );
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    w: Arc<Worker>,
    connections: TaskTracker,
    shutdown: CancellationToken,
) {
    let stats = w.shared.stats.clone();
    let max = w.shared.settings.max_connections;
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors or memory: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed; retrying in 50ms (raise the open-file limit?)");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = stats.open_connection(max) else {
            tracing::debug!(%peer, "connection refused: proxy.max_connections reached");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (w, shutdown, acceptor) = (w.clone(), shutdown.clone(), acceptor.clone());
        connections.spawn(async move {
            let _slot = slot;
            match acceptor {
                Some(a) => conn::serve_tls(stream, peer, a, w, shutdown).await,
                None => conn::serve_plain(stream, peer, w, shutdown).await,
            }
        });
    }
}

/// Binds a non-blocking listening socket with SO_REUSEADDR, so a restart does not
/// wait for TIME_WAIT.
fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// hyper's per-connection buffer cap: room for the largest head we accept plus
/// slack, at least 64 KiB (hyper's minimum is 8 KiB).
fn h1_buf_size(max_header_bytes: usize) -> usize {
    (max_header_bytes + 8 * 1024).max(64 * 1024)
}
