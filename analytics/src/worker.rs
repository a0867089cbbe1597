//! Owns the drain loop: batch out of the tee, run the engine, hand findings and
//! blocks to the sink after every batch, persist the inventory and baselines on a
//! timer, repeat; park briefly when the tee is empty, and until the next event
//! (or the next timer) once it stays empty. Must not hold events beyond
//! one batch (the event window, `window.rs`, keeps its own columnar copy, bounded),
//! and must never make the tee's producers wait.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::{self, JoinHandle, Thread};
use std::time::Duration;

use palisade_models::tally::{TallyBatch, TallyCounts};
use palisade_models::{
    BlockScope, ClientName, ClientSummary, EndpointInfo, LiveView, RequestEvent, SharedClock, Tee,
};

use crate::AnalyticsError;
use crate::engine::{Engine, Output};
use crate::window::Window;

/// Events taken from the tee per batch.
const BATCH: usize = 1024;
/// How long the worker parks when the tee is empty: short, so that under load
/// events wait little and the proxy never has to wake the worker.
const IDLE_PARK: Duration = Duration::from_millis(2);
/// Empty looks in a row after which the worker sleeps until a push wakes it
/// (`Tee::park_empty`): about 8 ms without a request. Waking every 2 ms when
/// idle cost 1.3% of a core in context switches (measured: 470 wakes a second).
const DEEP_AFTER: u32 = 4;
/// The longest such sleep: bounds how late the timers (`TICK`, persisting, the
/// fleet exchange) and the fleet's answers, which ring no doorbell, are seen.
const DEEP_PARK: Duration = Duration::from_millis(250);
/// How often idle clients are evicted and ended blocks forgotten.
const TICK: Duration = Duration::from_secs(1);

/// Where the worker's results go: the store, the block table, later the SIEM and
/// the dashboard. Called on the worker thread.
pub trait Sink: Send + 'static {
    /// Persists findings and publishes blocks; `out` is emptied.
    fn deliver(&mut self, out: &mut Output);
    /// Persists the endpoint inventory and the baseline snapshot.
    fn persist(&mut self, inventory: Vec<EndpointInfo>, snapshot: Vec<u8>);
    /// Whether `live` is wanted (building the view costs a pass over the clients).
    fn wants_live(&self) -> bool {
        false
    }
    /// The inventory and top clients, once a second when `wants_live`.
    fn live(&mut self, _view: LiveView) {}
}

/// What the admin surface asks of the running worker; answered between batches.
pub enum Command {
    /// The summary of one client (None when it is not tracked), handed to the
    /// callback on the worker thread.
    Client(ClientName, Box<dyn FnOnce(Option<ClientSummary>) + Send>),
    /// An operator lifted a block on this scope: decisions forget it, so the
    /// next offence blocks again.
    Lifted(BlockScope),
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Client(c, _) => write!(f, "Client({c})"),
            Command::Lifted(s) => write!(f, "Lifted({s})"),
        }
    }
}

/// Sends commands to a running worker and wakes it.
#[derive(Debug, Clone)]
pub struct Commands {
    tx: mpsc::Sender<Command>,
    thread: Thread,
}

impl Commands {
    /// Queues `cmd`; false if the worker has stopped.
    pub fn send(&self, cmd: Command) -> bool {
        let sent = self.tx.send(cmd).is_ok();
        self.thread.unpark();
        sent
    }
}

/// A sink that keeps nothing (analytics without a store, in tests).
#[derive(Debug, Default)]
pub struct NullSink;

impl Sink for NullSink {
    fn deliver(&mut self, out: &mut Output) {
        out.findings.clear();
        out.blocks.clear();
    }

    fn persist(&mut self, _: Vec<EndpointInfo>, _: Vec<u8>) {}
}

/// Running totals of what the worker has processed.
#[derive(Debug, Default)]
pub struct Totals {
    // Relaxed atomics: written by the one worker thread, read for reporting.
    pub events: AtomicU64,
    pub denied: AtomicU64,
    /// 5xx from the upstream, or for its absence (502, 504). The proxy's own
    /// load-shedding 503s are denials (`overloaded`), counted in `denied` only.
    pub server_errors: AtomicU64,
    pub findings: AtomicU64,
    pub blocks: AtomicU64,
    /// Blocks not made because `decisions.max_blocks` were in force.
    pub blocks_withheld: AtomicU64,
    pub clients: AtomicU64,
    /// Times the worker crashed and was restarted (`supervise.rs`).
    pub restarts: AtomicU64,
    /// True from a crash until the worker runs again: the tee is not drained
    /// meanwhile, so it fills and drops (counted).
    pub down: AtomicBool,
}

/// A copy of the totals at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TotalsSnapshot {
    pub events: u64,
    pub denied: u64,
    pub server_errors: u64,
    pub findings: u64,
    pub blocks: u64,
    pub blocks_withheld: u64,
    pub clients: u64,
    pub restarts: u64,
}

impl Totals {
    pub fn snapshot(&self) -> TotalsSnapshot {
        TotalsSnapshot {
            events: self.events.load(Ordering::Relaxed),
            denied: self.denied.load(Ordering::Relaxed),
            server_errors: self.server_errors.load(Ordering::Relaxed),
            findings: self.findings.load(Ordering::Acquire),
            blocks: self.blocks.load(Ordering::Acquire),
            blocks_withheld: self.blocks_withheld.load(Ordering::Acquire),
            clients: self.clients.load(Ordering::Relaxed),
            restarts: self.restarts.load(Ordering::Relaxed),
        }
    }
}

/// The worker's end of fleet-wide detection: every `every`, what the engine
/// tallied goes to the fleet link (one exchange in flight at most), and the
/// fleet's counts come back (None: the exchange failed).
#[derive(Debug)]
pub struct TallyLink {
    pub to_fleet: mpsc::SyncSender<TallyBatch>,
    pub from_fleet: mpsc::Receiver<Option<TallyCounts>>,
    pub every: Duration,
}

/// Makes a fresh engine after a crash (`Worker::with_rebuild`).
pub type Rebuild = Box<dyn FnMut() -> Option<Engine> + Send>;

/// The analytics worker.
pub struct Worker {
    tee: Arc<Tee>,
    pub(crate) totals: Arc<Totals>,
    pub(crate) engine: Option<Engine>,
    sink: Box<dyn Sink>,
    clock: SharedClock,
    persist_every: Duration,
    commands: mpsc::Receiver<Command>,
    commands_tx: mpsc::Sender<Command>,
    /// Recent events for the batch jobs (issue 7), when they run.
    window: Option<Window>,
    /// Fleet-wide detection counters (fleet mode).
    tally: Option<TallyLink>,
    /// How a crashed worker gets a fresh engine; None keeps the old one.
    pub(crate) rebuild: Option<Rebuild>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("engine", &self.engine.is_some())
            .finish_non_exhaustive()
    }
}

/// Controls a running worker.
#[derive(Debug)]
pub struct WorkerHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    totals: Arc<Totals>,
    commands: Commands,
}

impl Worker {
    /// A worker that only counts (no detectors, nothing kept).
    pub fn new(tee: Arc<Tee>, clock: SharedClock) -> Self {
        let (commands_tx, commands) = mpsc::channel();
        Self {
            commands,
            commands_tx,
            tee,
            totals: Arc::default(),
            engine: None,
            sink: Box::new(NullSink),
            clock,
            persist_every: Duration::from_secs(10),
            window: None,
            tally: None,
            rebuild: None,
        }
    }

    /// After a crash, runs on an engine made by `rebuild` (None from it: keep
    /// the old one) instead of one whose state a panic may have left half-done.
    pub fn with_rebuild(mut self, rebuild: Rebuild) -> Self {
        self.rebuild = Some(rebuild);
        self
    }

    /// Keeps every event drained in `window` too, for the batch jobs.
    pub fn with_window(mut self, window: Window) -> Self {
        self.window = Some(window);
        self
    }

    /// Exchanges fleet-wide detection counters through `link` (the engine must
    /// have been made `with_fleet`).
    pub fn with_tally(mut self, link: TallyLink) -> Self {
        self.tally = Some(link);
        self
    }

    /// Runs `engine` on every event and hands its results to `sink`; persists the
    /// inventory every `persist_every`.
    pub fn with_engine(
        mut self,
        engine: Engine,
        sink: Box<dyn Sink>,
        persist_every: Duration,
    ) -> Self {
        self.engine = Some(engine);
        self.sink = sink;
        self.persist_every = persist_every;
        self
    }

    /// Starts the worker on its own thread.
    pub fn spawn(self) -> Result<WorkerHandle, AnalyticsError> {
        let stop = Arc::new(AtomicBool::new(false));
        let totals = self.totals.clone();
        let flag = stop.clone();
        let tx = self.commands_tx.clone();
        let thread = thread::Builder::new()
            .name("palisade-analytics".into())
            .spawn(move || self.supervise(&flag))
            .map_err(AnalyticsError::Spawn)?;
        Ok(WorkerHandle {
            stop,
            commands: Commands {
                tx,
                thread: thread.thread().clone(),
            },
            thread: Some(thread),
            totals,
        })
    }

    /// The drain loop; returns once stopped and drained. A panic anywhere in it
    /// is caught by `supervise`, which calls it again.
    pub(crate) fn run(&mut self, stop: &AtomicBool) {
        let mut batch = Vec::with_capacity(BATCH);
        let mut out = Output::default();
        let mut next_tick = self.clock.monotonic() + TICK;
        let mut next_persist = self.clock.monotonic() + self.persist_every;
        let mut next_exchange = self.clock.monotonic();
        let mut empty_looks = 0u32;
        loop {
            let n = self.tee.drain_into(&mut batch, BATCH);
            for ev in batch.drain(..) {
                self.process(&ev, &mut out);
            }
            if !out.is_empty() {
                let (findings, blocks) = (out.findings.len() as u64, out.blocks.len() as u64);
                self.sink.deliver(&mut out);
                // Counted once delivered (Release; `snapshot` loads with
                // Acquire): whoever reads a total (a test, the metrics) finds the
                // findings stored and the blocks in force. Counted before, a
                // withheld block was visible while the block that filled the
                // table was still on its way (a flaky degrade::blocks test).
                self.totals.findings.fetch_add(findings, Ordering::Release);
                self.totals.blocks.fetch_add(blocks, Ordering::Release);
                if let Some(e) = &self.engine {
                    self.totals
                        .blocks_withheld
                        .store(e.stats().blocks_withheld, Ordering::Release);
                }
            }
            let now = self.clock.monotonic();
            if now >= next_tick {
                next_tick = now + TICK;
                if let Some(e) = &mut self.engine {
                    let evicted = e.tick(self.clock.now_ms());
                    if evicted > 0 {
                        tracing::debug!(evicted, "idle clients forgotten");
                    }
                    self.totals
                        .clients
                        .store(e.stats().clients as u64, Ordering::Relaxed);
                    if self.sink.wants_live() {
                        self.sink.live(e.live_view(self.clock.now_ms()));
                    }
                    e.batch_tick(self.clock.now_ms(), &mut out);
                }
                if let Some(w) = &mut self.window {
                    w.tick(self.clock.now_ms());
                }
            }
            while let Ok(cmd) = self.commands.try_recv() {
                self.command(cmd);
            }
            if let (Some(link), Some(e)) = (&self.tally, &mut self.engine) {
                while let Ok(counts) = link.from_fleet.try_recv() {
                    e.fleet_answer(counts, self.clock.now_ms(), &mut out);
                }
                if now >= next_exchange {
                    next_exchange = now + link.every;
                    if let Some(batch) = e.fleet_take()
                        && link.to_fleet.try_send(batch).is_err()
                    {
                        // The link is gone (shutting down): judge nothing from
                        // the fleet, report what waited for a claim.
                        e.fleet_answer(None, self.clock.now_ms(), &mut out);
                    }
                }
            }
            if now >= next_persist {
                next_persist = now + self.persist_every;
                self.persist();
            }
            if n == 0 {
                // Drain what is left before leaving, so nothing recorded is lost.
                if stop.load(Ordering::Acquire) && self.tee.is_empty() {
                    self.persist();
                    if let Some(w) = &mut self.window {
                        // The batch thread's last run writes these to a segment.
                        w.seal();
                    }
                    return;
                }
                empty_looks = empty_looks.saturating_add(1);
                if empty_looks < DEEP_AFTER {
                    thread::park_timeout(IDLE_PARK);
                } else {
                    // Stop and commands unpark the thread too.
                    self.tee.park_empty(DEEP_PARK);
                }
            } else {
                empty_looks = 0;
            }
        }
    }

    fn persist(&mut self) {
        if let Some(e) = &self.engine {
            self.sink.persist(e.inventory(), e.snapshot());
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Client(who, reply) => {
                reply(self.engine.as_ref().and_then(|e| e.client_summary(&who)));
            }
            Command::Lifted(scope) => {
                if let Some(e) = &mut self.engine {
                    e.lifted(&scope);
                }
            }
        }
    }

    fn process(&mut self, ev: &RequestEvent, out: &mut Output) {
        self.totals.events.fetch_add(1, Ordering::Relaxed);
        if ev.deny.is_some() {
            self.totals.denied.fetch_add(1, Ordering::Relaxed);
        }
        if ev.server_error() {
            self.totals.server_errors.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(e) = &mut self.engine {
            e.process(ev, out);
        }
        if let Some(w) = &mut self.window {
            let endpoint = self.engine.as_ref().and_then(Engine::last_endpoint);
            w.push(ev, endpoint);
        }
    }
}

impl WorkerHandle {
    pub fn totals(&self) -> &Arc<Totals> {
        &self.totals
    }

    /// A sender of commands to the worker.
    pub fn commands(&self) -> &Commands {
        &self.commands
    }

    /// Wakes the worker now rather than at the end of its idle park.
    pub fn wake(&self) {
        if let Some(t) = &self.thread {
            t.thread().unpark();
        }
    }

    /// Drains what is left in the tee, stops the thread, and returns the totals.
    pub fn stop(mut self) -> TotalsSnapshot {
        self.stop_inner();
        self.totals.snapshot()
    }

    fn stop_inner(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_models::{Denial, DenyCode, Phase, SystemClock};

    fn event(status: u16, denied: bool) -> RequestEvent {
        RequestEvent {
            status,
            deny: denied.then_some(Denial {
                phase: Phase::Block,
                code: DenyCode::Blocked,
            }),
            ..RequestEvent::example()
        }
    }

    #[test]
    fn stop_drains_everything_already_in_the_tee() {
        let tee = Arc::new(Tee::new(16));
        for _ in 0..5 {
            assert!(tee.push(event(200, false)));
        }
        assert!(tee.push(event(403, true)));
        assert!(tee.push(event(502, false)));
        // A request shed under load: the proxy's own 503, a denial, not an
        // upstream error.
        assert!(tee.push(RequestEvent {
            status: 503,
            deny: Some(Denial {
                phase: Phase::Accept,
                code: DenyCode::Overloaded,
            }),
            ..RequestEvent::example()
        }));
        let handle = Worker::new(tee.clone(), Arc::new(SystemClock::new()))
            .spawn()
            .unwrap();
        let totals = handle.stop();
        assert_eq!(
            totals,
            TotalsSnapshot {
                events: 8,
                denied: 2,
                server_errors: 1,
                ..TotalsSnapshot::default()
            }
        );
        assert!(tee.is_empty());
    }
}
