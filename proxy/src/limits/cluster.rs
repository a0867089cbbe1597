//! Owns the local side of `scope = "cluster"` limits: a route's shared buckets
//! (their names and GCRA parameters), the leases of tokens this sidecar took from
//! them, and the asking for more. A request that finds a lease token passes
//! without touching Redis; one that does not carries a `ClusterAsk` to
//! `RateLimits::acquire`, which takes a new lease through the fleet's
//! `ClusterLimiter`.
//!
//! Must not await in `consume` (the sync limit phase calls it) and must stay
//! bounded: a lease lives at most `LEASE_MAX_LIFE`, and a route holds at most
//! `MAX_LEASES` of them.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;

use palisade_models::ClientKeys;
use palisade_models::cluster::{ClusterLimiter, TakeTokens, Taken};
use palisade_models::config::{ClientKeyKind, Rate};

use super::{LimitKey, Limited, Policy, RouteLimiter, ceil_secs};

/// Leases one route holds at once (one per client, plus the global one); past
/// it, a grant serves its own request only.
const MAX_LEASES: usize = 100_000;
/// A lease's tokens are used within this, or given up: tokens kept longer would
/// let a sidecar spend later what the fleet's rate allowed earlier.
const LEASE_MAX_LIFE: Duration = Duration::from_secs(1);
/// Tokens asked for at once, at most.
const MAX_LEASE: u32 = 50;

/// One shared bucket's parameters.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    emission_us: u64,
    burst: u32,
    /// Tokens to ask for when a lease runs out.
    lease: u32,
    /// How long granted tokens stay usable here.
    lease_life_ns: u64,
    pub(crate) policy: Policy,
}

impl Bucket {
    pub(crate) fn new(rate: &Rate, burst: u32, policy: Policy) -> Bucket {
        let emission = rate.per / rate.count;
        // A twentieth of the burst: with a handful of sidecars, what leases hold
        // unspent stays a few percent of what the fleet may admit.
        let lease = (burst / 20).clamp(1, MAX_LEASE);
        Bucket {
            emission_us: u64::try_from(emission.as_micros())
                .unwrap_or(u64::MAX)
                .max(1),
            burst,
            lease,
            lease_life_ns: u64::try_from(
                (emission * lease)
                    .clamp(Duration::from_millis(100), LEASE_MAX_LIFE)
                    .as_nanos(),
            )
            .unwrap_or(u64::MAX),
            policy,
        }
    }
}

/// A route's cluster-wide limits and the tokens leased from them.
#[derive(Debug)]
pub(crate) struct ClusterRoute {
    /// The buckets' names start with it: the same route on every sidecar.
    pub(crate) name: String,
    pub(crate) client: Option<Bucket>,
    pub(crate) global: Option<Bucket>,
    pub(crate) leases: Leases,
}

/// What a request still needs from the fleet's buckets.
#[derive(Debug, Clone)]
pub(crate) struct ClusterAsk {
    pub(crate) limiter: Arc<RouteLimiter>,
    /// The client's local key and its name in the shared bucket.
    pub(crate) client: Option<(LimitKey, String)>,
    pub(crate) global: bool,
}

#[derive(Debug, Clone, Copy)]
struct Lease {
    tokens: u32,
    until_ns: u64,
}

/// Leased tokens of one route, shared by the workers; keyed by client (None:
/// the route's global bucket).
#[derive(Debug, Default)]
pub(crate) struct Leases {
    map: DashMap<Option<LimitKey>, Lease>,
}

impl Leases {
    /// Takes one leased token of `client` if one is left and fresh.
    pub(crate) fn consume(&self, client: Option<LimitKey>, now_ns: u64) -> bool {
        let Some(mut lease) = self.map.get_mut(&client) else {
            return false;
        };
        if lease.tokens == 0 || lease.until_ns <= now_ns {
            return false;
        }
        lease.tokens -= 1;
        true
    }

    /// Keeps `tokens` for `client` until `until_ns`, beside what a fresh lease
    /// still holds: requests that missed the lease together each bring a grant
    /// back, and none of those tokens may be thrown away (the fleet would then
    /// admit less than its limit).
    fn store(&self, client: Option<LimitKey>, tokens: u32, now_ns: u64, until_ns: u64) {
        if tokens == 0 {
            return;
        }
        if let Some(mut lease) = self.map.get_mut(&client) {
            if lease.until_ns > now_ns {
                lease.tokens = lease.tokens.saturating_add(tokens);
            } else {
                lease.tokens = tokens;
            }
            lease.until_ns = until_ns;
            return;
        }
        if self.map.len() < MAX_LEASES {
            self.map.insert(client, Lease { tokens, until_ns });
        }
    }

    /// Drops spent and stale leases; returns how many are left.
    pub(crate) fn sweep(&self, now_ns: u64) -> usize {
        self.map.retain(|_, l| l.tokens > 0 && l.until_ns > now_ns);
        self.map.shrink_to_fit();
        self.map.len()
    }
}

/// How a request's client is named in a shared bucket: stable across sidecars
/// (unlike the local limiter's per-process keys), and never the identity itself.
pub(crate) fn bucket_client(order: &[ClientKeyKind], client: &ClientKeys<'_>) -> String {
    let digest = |kind: &str, s: &str| {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, s.as_bytes());
        let mut name = String::with_capacity(kind.len() + 33);
        name.push_str(kind);
        name.push(':');
        for b in &d.as_ref()[..16] {
            name.push_str(&format!("{b:02x}"));
        }
        name
    };
    for kind in order {
        match kind {
            ClientKeyKind::Subject => {
                if let Some(s) = client.subject {
                    return digest("sub", s);
                }
            }
            ClientKeyKind::ApiKey => {
                if let Some(k) = client.api_key_id {
                    return digest("key", k);
                }
            }
            ClientKeyKind::Ip => break,
        }
    }
    match client.ip {
        std::net::IpAddr::V4(a) => format!("ip:{a}"),
        std::net::IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}"),
            // The /64, as the local limiter keys IPv6 clients.
            None => format!("ip6:{:016x}", a.to_bits() >> 64),
        },
    }
}

/// Why a take gave no token.
pub(crate) enum NotTaken {
    /// The bucket is empty: the request is refused.
    Refused(Limited),
    /// The buckets could not be reached (the failure mode decides).
    Unreachable,
}

/// Takes a lease from one bucket: Ok with this request's token (the rest kept
/// in `leases`), or why not.
pub(crate) async fn take(
    cluster: &dyn ClusterLimiter,
    leases: &Leases,
    client: Option<LimitKey>,
    bucket: String,
    b: &Bucket,
    now_ns: impl Fn() -> u64,
) -> Result<(), NotTaken> {
    let ask = TakeTokens {
        bucket,
        emission_us: b.emission_us,
        burst: b.burst,
        want: b.lease,
    };
    match cluster.take(ask).await {
        Ok(Taken::Granted(n)) => {
            let now = now_ns();
            leases.store(client, n.saturating_sub(1), now, now + b.lease_life_ns);
            Ok(())
        }
        Ok(Taken::Refused { retry_after_ms }) => Err(NotTaken::Refused(Limited {
            policy: b.policy,
            retry_after_secs: ceil_secs(Duration::from_millis(retry_after_ms)).max(1),
            global: client.is_none(),
        })),
        Err(e) => {
            tracing::debug!(target: "palisade::limits", error = %e, "cluster limit unreachable");
            Err(NotTaken::Unreachable)
        }
    }
}
