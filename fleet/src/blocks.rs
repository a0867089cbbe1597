//! Owns block synchronisation across the fleet. Each block in force is a Redis key
//! holding its JSON, expiring with the block; every put and lift is announced on
//! the service's channel. A lift leaves a tombstone (when the scope was lifted),
//! so a sidecar that missed the lift while cut off does not put the block back
//! when it returns. On every (re)connection a sidecar reconciles: it sends the
//! lifts it made while away, takes the blocks it lacks, and republishes its own
//! (which restores a Redis that restarted empty).
//!
//! Must not block the callers of `BlockLink` (the block writer's, under its lock):
//! they only queue. Must not echo a change back to the fleet it came from.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use palisade_models::{Block, BlockScope, SharedClock};

use crate::status::Counter;
use crate::{Fleet, FleetStatus, Keys};

/// Blocks queued for the fleet while the link is busy or down; beyond it, a full
/// reconciliation (which republishes every block in force) replaces the queue.
const QUEUE: usize = 1024;
/// Lifts waiting to reach the fleet (a lift cannot be rebuilt from the blocks in
/// force, so each is kept until sent). Beyond it, lifts are dropped and counted.
const MAX_PENDING_LIFTS: usize = 100_000;
/// How long a tombstone keeps a lifted block from being put back. A sidecar cut
/// off for longer than this may republish a block lifted meanwhile.
const TOMBSTONE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What the sidecar's block writer offers the link.
pub trait LocalBlocks: Send + Sync + 'static {
    /// The blocks in force here that the fleet shares (not the config's own).
    fn shared(&self, now_ms: u64) -> Vec<Block>;
    /// Enforces a block decided on `instance` (stored and audited as the fleet's),
    /// unless one on the same scope is already in force here.
    fn apply_remote(&self, block: Block, instance: &str);
    /// Lifts the blocks on `scope` made at or before `at_ms`, as lifted on
    /// `instance`.
    fn lift_remote(&self, scope: &BlockScope, at_ms: u64, instance: &str);
}

/// The key's value: the block and the sidecar that decided it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    instance: Box<str>,
    block: Block,
}

/// What the channel carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Message {
    Put {
        instance: Box<str>,
        block: Block,
    },
    Lift {
        instance: Box<str>,
        scope: BlockScope,
        at_ms: u64,
    },
}

/// Puts a block unless a lift at or after its creation is recorded, or a block at
/// least as long is already there; announces what it put. Returns 1 when put, 0
/// when the scope was lifted since (the caller lifts its copy), 2 when it had
/// expired, 3 when a block at least as long was there.
const PUT: &str = r"
local lifted = tonumber(redis.call('GET', KEYS[2]) or '0')
if lifted >= tonumber(ARGV[2]) then return 0 end
local cur = redis.call('GET', KEYS[1])
if cur then
  local c = cjson.decode(cur).block.expires_ms
  if c == cjson.null or (ARGV[3] ~= '' and tonumber(c) >= tonumber(ARGV[3])) then return 3 end
end
if ARGV[3] ~= '' then
  if tonumber(ARGV[3]) <= tonumber(ARGV[6]) then return 2 end
  redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
";

/// Removes the block on a scope if it was made at or before the lift, records
/// the lift (keeping the latest) and announces it.
const LIFT: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur then
  if tonumber(cjson.decode(cur).block.created_ms) <= tonumber(ARGV[1]) then
    redis.call('DEL', KEYS[1])
  end
end
local t = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[1]) > t then redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2]) end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
";

/// What the block writer tells the fleet. Cheap to clone; never waits.
#[derive(Debug, Clone)]
pub struct BlockLink {
    puts: mpsc::Sender<Block>,
    shared: Arc<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    lifts: Mutex<HashMap<BlockScope, u64>>,
    lifts_dropped: AtomicU64,
    /// The put queue overflowed: reconcile instead.
    resync: AtomicBool,
    wake: Notify,
}

impl BlockLink {
    /// A block made here (by analytics or an operator) is in force.
    pub fn published(&self, block: &Block) {
        if self.puts.try_send(block.clone()).is_err() {
            self.shared.resync.store(true, Ordering::Release);
            self.shared.wake.notify_one();
        }
    }

    /// Blocks on `scope` made at or before `at_ms` were lifted here.
    pub fn lifted(&self, scope: &BlockScope, at_ms: u64) {
        let mut lifts = self
            .shared
            .lifts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if lifts.len() >= MAX_PENDING_LIFTS && !lifts.contains_key(scope) {
            drop(lifts);
            let n = self.shared.lifts_dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::error!(
                scope = %scope,
                dropped = n,
                "fleet: too many unblocks waiting for Redis; this one will not reach the other \
                 sidecars (lift it on each, or restore Redis)"
            );
            return;
        }
        let at = lifts.entry(scope.clone()).or_insert(at_ms);
        *at = (*at).max(at_ms);
        drop(lifts);
        self.shared.wake.notify_one();
    }
}

/// One task's worth of state.
struct BlockSync {
    fleet: Fleet,
    local: Arc<dyn LocalBlocks>,
    clock: SharedClock,
    pending: Arc<Pending>,
    puts: mpsc::Receiver<Block>,
    put: Script,
    lift: Script,
    /// The current session reconciled: a failure after it starts the backoff over.
    synced: bool,
}

impl Fleet {
    /// Starts synchronising blocks; returns what the block writer calls.
    pub fn spawn_block_sync(
        &self,
        local: Arc<dyn LocalBlocks>,
        clock: SharedClock,
        stop: CancellationToken,
    ) -> BlockLink {
        let (tx, rx) = mpsc::channel(QUEUE);
        let pending = Arc::new(Pending::default());
        let sync = BlockSync {
            fleet: self.clone(),
            local,
            clock,
            pending: pending.clone(),
            puts: rx,
            put: Script::new(PUT),
            lift: Script::new(LIFT),
            synced: false,
        };
        tokio::spawn(sync.run(stop));
        BlockLink {
            puts: tx,
            shared: pending,
        }
    }
}

type Fail = String;

impl BlockSync {
    async fn run(mut self, stop: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        loop {
            if stop.is_cancelled() {
                return;
            }
            // The session watches `stop` itself, to hand over what is queued.
            match self.session(&stop).await {
                Ok(()) => return,
                Err(e) => {
                    if std::mem::take(&mut self.synced) {
                        backoff = Duration::from_millis(100);
                    }
                    self.status().failed(&e);
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    fn status(&self) -> &FleetStatus {
        &self.fleet.status
    }

    fn keys(&self) -> &Keys {
        &self.fleet.keys
    }

    fn conn(&self) -> ConnectionManager {
        self.fleet.conn.clone()
    }

    async fn timed<T>(
        &self,
        what: &str,
        f: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, Fail> {
        match tokio::time::timeout(self.fleet.settings.command_timeout * 4, f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(format!("{what}: {e}")),
            Err(_) => Err(format!("{what}: Redis did not answer in time")),
        }
    }

    /// One connection's life: subscribe, reconcile, then follow the channel and
    /// send local changes until something fails (Err) or the sidecar stops (Ok).
    async fn session(&mut self, stop: &CancellationToken) -> Result<(), Fail> {
        use futures_util::StreamExt as _;
        let mut pubsub = self
            .timed(
                "opening the subscription",
                self.fleet.client.get_async_pubsub(),
            )
            .await?;
        let channel = self.keys().block_channel();
        self.timed("subscribing", pubsub.subscribe(&channel))
            .await?;
        let mut messages = pubsub.into_on_message();
        self.reconcile().await?;
        self.synced = true;
        self.status().synced();
        let mut tick = tokio::time::interval(self.fleet.settings.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => {
                    // Best effort: what is queued now, then leave.
                    while let Ok(b) = self.puts.try_recv() {
                        self.put(&b).await?;
                    }
                    return self.flush_lifts().await;
                }
                m = messages.next() => match m {
                    Some(m) => self.received(m.get_payload_bytes()).await,
                    None => return Err("the subscription ended".into()),
                },
                Some(b) = self.puts.recv() => {
                    self.put(&b).await?;
                }
                () = self.pending.wake.notified() => {
                    self.flush_lifts().await?;
                    if self.pending.resync.swap(false, Ordering::AcqRel) {
                        self.reconcile().await?;
                    }
                }
                _ = tick.tick() => {
                    let mut c = self.conn();
                    self.timed("heartbeat", redis::cmd("PING").query_async::<()>(&mut c)).await?;
                }
            }
        }
    }

    /// A change announced by another sidecar.
    async fn received(&self, payload: &[u8]) {
        let msg: Message = match serde_json::from_slice(payload) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "fleet: a block announcement that does not parse was ignored");
                return;
            }
        };
        let me: &str = &self.fleet.instance;
        let local = self.local.clone();
        let status = self.fleet.status.clone();
        let job = match msg {
            Message::Put { instance, .. } | Message::Lift { instance, .. } if &*instance == me => {
                return;
            }
            Message::Put { instance, block } => {
                if !block.is_active(self.clock.now_ms()) {
                    return;
                }
                tokio::task::spawn_blocking(move || {
                    status.count(Counter::BlocksReceived);
                    local.apply_remote(block, &instance);
                })
            }
            Message::Lift {
                instance,
                scope,
                at_ms,
            } => tokio::task::spawn_blocking(move || {
                status.count(Counter::LiftsReceived);
                local.lift_remote(&scope, at_ms, &instance);
            }),
        };
        // The block writer stores with fsync: off the runtime's threads, in order.
        let _ = job.await;
    }

    /// Puts one block; returns the script's answer (see `PUT`).
    async fn put(&self, b: &Block) -> Result<i64, Fail> {
        let scope = &b.scope;
        let record = serde_json::to_string(&Record {
            instance: (*self.fleet.instance).into(),
            block: b.clone(),
        })
        .map_err(|e| e.to_string())?;
        let msg = serde_json::to_string(&Message::Put {
            instance: (*self.fleet.instance).into(),
            block: b.clone(),
        })
        .map_err(|e| e.to_string())?;
        let mut inv = self.put.prepare_invoke();
        inv.key(self.keys().block(scope))
            .key(self.keys().lifted(scope))
            .arg(record)
            .arg(b.created_ms)
            .arg(b.expires_ms.map(|e| e.to_string()).unwrap_or_default())
            .arg(self.keys().block_channel())
            .arg(msg)
            .arg(self.clock.now_ms());
        let mut c = self.conn();
        let r: i64 = self
            .timed("sharing a block", inv.invoke_async(&mut c))
            .await?;
        match r {
            1 => self.status().count(Counter::BlocksSent),
            0 => {
                // Lifted elsewhere after it was made, while this sidecar was away.
                let local = self.local.clone();
                let scope = scope.clone();
                let at = b.created_ms;
                let _ = tokio::task::spawn_blocking(move || {
                    local.lift_remote(&scope, at, "fleet");
                })
                .await;
            }
            _ => {}
        }
        Ok(r)
    }

    /// Sends every lift made here; each stays pending until Redis took it.
    async fn flush_lifts(&self) -> Result<(), Fail> {
        let lifts: Vec<(BlockScope, u64)> = self
            .pending
            .lifts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(s, a)| (s.clone(), *a))
            .collect();
        for (scope, at_ms) in lifts {
            let msg = serde_json::to_string(&Message::Lift {
                instance: (*self.fleet.instance).into(),
                scope: scope.clone(),
                at_ms,
            })
            .map_err(|e| e.to_string())?;
            let mut inv = self.lift.prepare_invoke();
            inv.key(self.keys().block(&scope))
                .key(self.keys().lifted(&scope))
                .arg(at_ms)
                .arg(TOMBSTONE_TTL.as_millis() as u64)
                .arg(self.keys().block_channel())
                .arg(msg);
            let mut c = self.conn();
            let _: i64 = self
                .timed("sharing an unblock", inv.invoke_async(&mut c))
                .await?;
            self.status().count(Counter::LiftsSent);
            let mut pending = self
                .pending
                .lifts
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if pending.get(&scope) == Some(&at_ms) {
                pending.remove(&scope);
            }
        }
        Ok(())
    }

    /// Brings this sidecar and the fleet's keys into agreement.
    async fn reconcile(&mut self) -> Result<(), Fail> {
        self.flush_lifts().await?;
        // Queued puts are covered by republishing everything in force below.
        while self.puts.try_recv().is_ok() {}
        let remote = self.remote_blocks().await?;
        let now = self.clock.now_ms();
        let local = self.local.clone();
        let here = tokio::task::spawn_blocking(move || local.shared(now))
            .await
            .map_err(|e| e.to_string())?;
        let here_scopes: HashSet<&BlockScope> = here.iter().map(|b| &b.scope).collect();
        let missing: Vec<Record> = remote
            .values()
            .filter(|r| r.block.is_active(now) && !here_scopes.contains(&r.block.scope))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let local = self.local.clone();
            let status = self.fleet.status.clone();
            tokio::task::spawn_blocking(move || {
                for r in missing {
                    status.count(Counter::BlocksReceived);
                    local.apply_remote(r.block, &r.instance);
                }
            })
            .await
            .map_err(|e| e.to_string())?;
        }
        for b in here.iter().filter(|b| !remote.contains_key(&b.scope)) {
            self.put(b).await?;
        }
        Ok(())
    }

    /// Every block the fleet's keys hold.
    async fn remote_blocks(&self) -> Result<HashMap<BlockScope, Record>, Fail> {
        let mut c = self.conn();
        let keys: Vec<String> = self
            .timed("listing the fleet's blocks", async {
                use futures_util::StreamExt as _;
                let iter = c
                    .scan_match::<_, String>(self.keys().block_pattern())
                    .await?;
                iter.collect::<Vec<redis::RedisResult<String>>>()
                    .await
                    .into_iter()
                    .collect::<redis::RedisResult<Vec<String>>>()
            })
            .await?;
        let mut out = HashMap::new();
        for chunk in keys.chunks(500) {
            let mut c = self.conn();
            let values: Vec<Option<String>> = self
                .timed("reading the fleet's blocks", c.mget(chunk))
                .await?;
            for v in values.into_iter().flatten() {
                match serde_json::from_str::<Record>(&v) {
                    Ok(r) => {
                        out.insert(r.block.scope.clone(), r);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "fleet: a stored block that does not parse was skipped");
                    }
                }
            }
        }
        Ok(out)
    }
}
