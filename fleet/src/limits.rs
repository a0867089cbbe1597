//! Owns the fleet's shared rate-limit buckets: one GCRA bucket per route, limit
//! and client in Redis, taken from atomically by a Lua script on Redis' own clock
//! (so the sidecars' clocks need not agree). The proxy asks only when its lease of
//! tokens ran out (`proxy/src/limits/cluster.rs`).
//!
//! Must answer within `fleet.command_timeout`: a request waits on it.

use std::sync::Arc;
use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;

use palisade_models::cluster::{ClusterLimiter, TakeFuture, TakeTokens, Taken};

use crate::{Fleet, Keys};

/// GCRA over a theoretical arrival time (microseconds, Redis' clock): grants as
/// many of the wanted tokens as the bucket holds, at least one, or refuses with
/// the wait until the next. Returns {granted, retry_after_ms}.
const TAKE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local T = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local n = math.floor((burst * T - (tat - now)) / T)
if n > want then n = want end
if n < 1 then
  return {0, math.ceil((tat + T - burst * T - now) / 1000)}
end
tat = tat + n * T
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
return {n, 0}
";

/// The fleet's buckets, as the proxy sees them.
#[derive(Clone)]
struct Buckets {
    conn: ConnectionManager,
    keys: Arc<Keys>,
    script: Script,
    timeout: Duration,
    fail_open: bool,
    status: Arc<crate::FleetStatus>,
}

impl std::fmt::Debug for Buckets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buckets")
            .field("service", &self.keys.service())
            .field("fail_open", &self.fail_open)
            .finish_non_exhaustive()
    }
}

impl ClusterLimiter for Buckets {
    fn take(&self, t: TakeTokens) -> TakeFuture {
        let me = self.clone();
        Box::pin(async move {
            // Known down (the link's heartbeat failed, or it has not joined yet):
            // answer at once rather than make each request wait out a timeout.
            if !me.status.up() {
                return Err("fleet sync is degraded".into());
            }
            let mut inv = me.script.prepare_invoke();
            inv.key(me.keys.limit(&t.bucket))
                .arg(t.emission_us)
                .arg(t.burst)
                .arg(t.want.max(1));
            let mut c = me.conn.clone();
            match tokio::time::timeout(me.timeout, inv.invoke_async::<(u32, u64)>(&mut c)).await {
                Ok(Ok((0, wait))) => Ok(Taken::Refused {
                    retry_after_ms: wait,
                }),
                Ok(Ok((n, _))) => Ok(Taken::Granted(n)),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("Redis did not answer within fleet.command_timeout".into()),
            }
        })
    }

    fn fail_open(&self) -> bool {
        self.fail_open
    }
}

impl Fleet {
    /// The shared buckets for `scope = "cluster"` limits; `fail_open` is
    /// `fleet.cluster_limit_failure = "open"`.
    pub fn cluster_limiter(&self, fail_open: bool) -> Arc<dyn ClusterLimiter> {
        Arc::new(Buckets {
            conn: self.conn.clone(),
            keys: self.keys.clone(),
            script: Script::new(TAKE),
            timeout: self.settings.command_timeout,
            fail_open,
            status: self.status.clone(),
        })
    }
}
