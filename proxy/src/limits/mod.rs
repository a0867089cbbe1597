//! Owns rate limiting: per route, one governor GCRA limiter keyed by client and
//! one global to the route, built from `rate_limit` in the config; the check the
//! limit phase makes; and the sweep that keeps the per-client tables bounded
//! (governor never evicts by itself). Time comes from the injected clock's
//! monotonic reading, so tests drive limits exactly.
//!
//! `scope = "cluster"` routes count against the fleet's shared buckets instead,
//! through leases of tokens (`cluster.rs`); their local limiters only stand in
//! while the buckets cannot be reached and the route fails open.
//!
//! `check` must not await or take a lock across anything but one table shard's
//! compare-and-swap: it runs on every request. Only `acquire` awaits.

mod cluster;
mod key;
mod store;

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use governor::clock::Clock as GovernorClock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{NotUntil, Quota, RateLimiter};

use palisade_models::cluster::ClusterLimiter;
use palisade_models::config::{LimitScope, Parsed, Rate, RouteRateLimit};
use palisade_models::{ClientKeys, Config, SharedClock};

use crate::error::ProxyError;

pub(crate) use cluster::ClusterAsk;
use cluster::{Bucket, ClusterRoute, NotTaken, bucket_client};

use key::KeyRule;
pub(crate) use key::LimitKey;
use store::BoundedStore;

/// governor's clock, read from Palisade's injected clock.
#[derive(Debug, Clone)]
pub(crate) struct LimitClock(SharedClock);

impl GovernorClock for LimitClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.0.monotonic())
    }
}

type KeyedLimiter =
    RateLimiter<LimitKey, BoundedStore<LimitKey>, LimitClock, NoOpMiddleware<Nanos>>;
type DirectLimiter = RateLimiter<NotKeyed, InMemoryState, LimitClock, NoOpMiddleware<Nanos>>;

/// Every route's limiters. Each route owns its limiter (so a route table
/// rebuilt for a new OpenAPI spec carries the limiters of the routes it keeps);
/// this only makes them and keeps a weak list for the sweeper.
#[derive(Debug)]
pub(crate) struct RateLimits {
    /// Every route limiter made, for the sweeper; dead ones are dropped by it.
    /// Locked only when a route table is built and by the sweeper thread.
    made: Mutex<Vec<Weak<RouteLimiter>>>,
    /// Shared by every undeclared path let through (`routes.rate_limit`).
    undeclared: Option<Arc<RouteLimiter>>,
    keys: KeyRule,
    clock: LimitClock,
    budget: u32,
    /// True when the config sets any limit.
    configured: bool,
}

/// One route's limits: per client and global.
#[derive(Debug)]
pub(crate) struct RouteLimiter {
    client: Option<ClientLimit>,
    global: Option<Limit<DirectLimiter>>,
    /// Set for `scope = "cluster"`: the fleet's buckets decide; the limiters
    /// above only stand in while the buckets cannot be reached.
    cluster: Option<ClusterRoute>,
}

#[derive(Debug)]
struct Limit<L> {
    limiter: L,
    policy: Policy,
}

/// A per-client limiter and a handle on its table for the sweeper.
#[derive(Debug)]
struct ClientLimit {
    limit: Limit<KeyedLimiter>,
    table: BoundedStore<LimitKey>,
}

/// What a 429 tells the client about the limit it hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Requests allowed at once (the burst): `RateLimit-Limit`.
    pub(crate) limit: u32,
    /// The period the configured count is per, in seconds: `RateLimit-Policy`'s `w`.
    pub(crate) window_secs: u64,
}

/// A refused request: which limit, and when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limited {
    pub(crate) policy: Policy,
    /// Whole seconds until a request would be allowed (at least 1).
    pub(crate) retry_after_secs: u64,
    /// True when the route's global limit refused, not the client's own.
    pub(crate) global: bool,
}

impl RateLimits {
    pub(crate) fn build(config: &Config, clock: SharedClock) -> Result<RateLimits, ProxyError> {
        let clock = LimitClock(clock);
        let budget = config.rate_limits.new_keys_per_interval;
        let default = config.routes.rate_limit.as_ref();
        let undeclared = default
            .map(|l| RouteLimiter::build(l, "*", budget, &clock).map(Arc::new))
            .transpose()?;
        Ok(RateLimits {
            made: Mutex::default(),
            undeclared,
            keys: KeyRule::new(&config.rate_limits.client_key),
            clock,
            budget,
            configured: default.is_some() || config.route.iter().any(|r| r.rate_limit.is_some()),
        })
    }

    /// A new limiter for a route limited by `limit`; `name` names the route in
    /// the fleet's buckets (the same on every sidecar of the service).
    pub(crate) fn route_limiter(
        &self,
        limit: &RouteRateLimit,
        name: &str,
    ) -> Result<Arc<RouteLimiter>, ProxyError> {
        let l = Arc::new(RouteLimiter::build(limit, name, self.budget, &self.clock)?);
        self.made
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(&l));
        Ok(l)
    }

    /// The limiter of undeclared paths let through.
    pub(crate) fn undeclared(&self) -> Option<&Arc<RouteLimiter>> {
        self.undeclared.as_ref()
    }

    /// True when no route has a limit (no sweeper is needed).
    pub(crate) fn is_empty(&self) -> bool {
        !self.configured
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.clock.0.monotonic().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Counts one request by `client` against `limiter` (the route's, or the
    /// undeclared paths'); no limiter, no limit. On a cluster route, what leased
    /// tokens did not cover comes back as an ask for `acquire`.
    pub(crate) fn check(
        &self,
        limiter: Option<&Arc<RouteLimiter>>,
        client: &ClientKeys<'_>,
    ) -> Result<Option<ClusterAsk>, Limited> {
        let Some(l) = limiter else {
            return Ok(None);
        };
        if let Some(cl) = &l.cluster {
            let now = self.now_ns();
            let mut need_client = None;
            if cl.client.is_some() {
                let key = self.keys.key(client);
                if !cl.leases.consume(Some(key), now) {
                    need_client = Some((key, bucket_client(self.keys.order(), client)));
                }
            }
            let need_global = cl.global.is_some() && !cl.leases.consume(None, now);
            if need_client.is_none() && !need_global {
                return Ok(None);
            }
            return Ok(Some(ClusterAsk {
                limiter: l.clone(),
                client: need_client,
                global: need_global,
            }));
        }
        // The client's own limit first, so a client it refuses does not use up
        // the route's global allowance.
        if let Some(c) = &l.client {
            let key = self.keys.key(client);
            c.limit
                .limiter
                .check_key(&key)
                .map_err(|n| self.limited(c.limit.policy, &n, false))?;
        }
        if let Some(g) = &l.global {
            g.limiter
                .check()
                .map_err(|n| self.limited(g.policy, &n, true))?;
        }
        Ok(None)
    }

    /// Takes from the fleet's buckets what `check` could not cover with leased
    /// tokens. While they cannot be reached: the route's limits counted by this
    /// sidecar alone (fail open), or a refusal (fail closed).
    pub(crate) async fn acquire(
        &self,
        ask: ClusterAsk,
        cluster: &dyn ClusterLimiter,
    ) -> Result<(), Limited> {
        let l = &ask.limiter;
        let Some(cl) = &l.cluster else {
            return Ok(());
        };
        let now = || self.now_ns();
        if let (Some((key, name)), Some(b)) = (ask.client, &cl.client) {
            let bucket = format!("{}|client|{name}", cl.name);
            match cluster::take(cluster, &cl.leases, Some(key), bucket, b, now).await {
                Ok(()) => {}
                Err(NotTaken::Refused(limited)) => return Err(limited),
                Err(NotTaken::Unreachable) => match (&l.client, cluster.fail_open()) {
                    (Some(c), true) => c
                        .limit
                        .limiter
                        .check_key(&key)
                        .map_err(|n| self.limited(c.limit.policy, &n, false))?,
                    _ => return Err(unreachable(b, false)),
                },
            }
        }
        if let (true, Some(b)) = (ask.global, &cl.global) {
            let bucket = format!("{}|global", cl.name);
            match cluster::take(cluster, &cl.leases, None, bucket, b, now).await {
                Ok(()) => {}
                Err(NotTaken::Refused(limited)) => return Err(limited),
                Err(NotTaken::Unreachable) => match (&l.global, cluster.fail_open()) {
                    (Some(g), true) => g
                        .limiter
                        .check()
                        .map_err(|n| self.limited(g.policy, &n, true))?,
                    _ => return Err(unreachable(b, true)),
                },
            }
        }
        Ok(())
    }

    fn limited(&self, policy: Policy, not_until: &NotUntil<Nanos>, global: bool) -> Limited {
        let wait = not_until.wait_time_from(self.clock.now());
        Limited {
            policy,
            retry_after_secs: ceil_secs(wait).max(1),
            global,
        }
    }

    /// Drops clients whose state is indistinguishable from a fresh one, returns
    /// the memory, and renews each table's new-key budget. Returns the number of
    /// clients still tracked and the overflow checks since start.
    pub(crate) fn sweep(&self) -> SweepReport {
        let mut report = SweepReport::default();
        let live: Vec<Arc<RouteLimiter>> = {
            let mut made = self.made.lock().unwrap_or_else(PoisonError::into_inner);
            made.retain(|w| w.strong_count() > 0);
            made.iter().filter_map(Weak::upgrade).collect()
        };
        let now = self.now_ns();
        for l in live.iter().chain(self.undeclared.as_ref()) {
            if let Some(cl) = &l.cluster {
                report.leases += cl.leases.sweep(now);
            }
            if let Some(c) = &l.client {
                c.limit.limiter.retain_recent();
                c.limit.limiter.shrink_to_fit();
                c.table.renew_budget();
                report.tracked += c.limit.limiter.len();
                report.capacity += c.table.capacity();
                report.overflowed += c.table.overflowed();
            }
        }
        report
    }
}

/// What a sweep left.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SweepReport {
    /// Clients tracked across all per-client tables.
    pub(crate) tracked: usize,
    /// Slots the tables hold memory for.
    pub(crate) capacity: usize,
    /// Checks measured against overflow buckets since start.
    pub(crate) overflowed: u64,
    /// Cluster leases still held.
    pub(crate) leases: usize,
}

/// A fail-closed refusal while the fleet's buckets cannot be reached.
fn unreachable(b: &Bucket, global: bool) -> Limited {
    Limited {
        policy: b.policy,
        retry_after_secs: 1,
        global,
    }
}

impl RouteLimiter {
    fn build(
        c: &RouteRateLimit,
        name: &str,
        budget: u32,
        clock: &LimitClock,
    ) -> Result<Self, ProxyError> {
        let client = c
            .client
            .as_ref()
            .map(|rate| -> Result<_, ProxyError> {
                let (quota, policy) = quota(rate.get(), c.client_burst)?;
                let table = BoundedStore::new(budget);
                Ok(ClientLimit {
                    limit: Limit {
                        limiter: RateLimiter::new(quota, table.clone(), clock.clone()),
                        policy,
                    },
                    table,
                })
            })
            .transpose()?;
        let global = c
            .global
            .as_ref()
            .map(|rate| -> Result<_, ProxyError> {
                let (quota, policy) = quota(rate.get(), c.global_burst)?;
                Ok(Limit {
                    limiter: RateLimiter::new(quota, InMemoryState::default(), clock.clone()),
                    policy,
                })
            })
            .transpose()?;
        let cluster = (c.scope == LimitScope::Cluster)
            .then(|| -> Result<_, ProxyError> {
                let bucket = |rate: Option<&Parsed<Rate>>, burst| -> Result<_, ProxyError> {
                    rate.map(|r| {
                        let (_, policy) = quota(r.get(), burst)?;
                        Ok(Bucket::new(r.get(), policy.limit, policy))
                    })
                    .transpose()
                };
                Ok(ClusterRoute {
                    name: name.to_string(),
                    client: bucket(c.client.as_ref(), c.client_burst)?,
                    global: bucket(c.global.as_ref(), c.global_burst)?,
                    leases: cluster::Leases::default(),
                })
            })
            .transpose()?;
        Ok(RouteLimiter {
            client,
            global,
            cluster,
        })
    }
}

/// `count` per `per` as GCRA: one request replenished every `per / count`,
/// `burst` (default `count`) at once.
fn quota(rate: &Rate, burst: Option<u32>) -> Result<(Quota, Policy), ProxyError> {
    let bad = |message: &str| ProxyError::Config {
        key: "rate_limit",
        message: format!("{rate}: {message}"),
    };
    let burst = NonZeroU32::new(burst.unwrap_or(rate.count)).ok_or_else(|| bad("burst is 0"))?;
    let period = rate.per / rate.count;
    let quota = Quota::with_period(period)
        .ok_or_else(|| bad("the period is too short for the count"))?
        .allow_burst(burst);
    Ok((
        quota,
        Policy {
            limit: burst.get(),
            window_secs: ceil_secs(rate.per).max(1),
        },
    ))
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Runs `sweep` every `interval` on its own thread until the returned handle
/// is dropped; warns when clients overflowed the new-key budget.
pub(crate) fn start_sweeper(
    limits: Arc<RateLimits>,
    interval: Duration,
) -> Result<SweeperHandle, ProxyError> {
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("palisade-limits".into())
        .spawn(move || {
            let mut overflowed = 0;
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(interval)
            {
                let report = limits.sweep();
                if report.overflowed > overflowed {
                    tracing::warn!(
                        target: "palisade::limits",
                        checks = report.overflowed - overflowed,
                        "more new clients than rate_limits.new_keys_per_interval arrived; \
                         the extra ones were rate-limited together in one shared bucket. \
                         If this is normal traffic rather than address rotation, raise it"
                    );
                    overflowed = report.overflowed;
                }
            }
        });
    spawned
        .map(|_| SweeperHandle { _stop: stop })
        .map_err(ProxyError::Worker)
}

/// Stops the sweeper when dropped.
#[derive(Debug)]
pub(crate) struct SweeperHandle {
    _stop: std::sync::mpsc::Sender<()>,
}

#[cfg(test)]
mod tests;
