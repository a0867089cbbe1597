//! Owns the admin listener's defence against token guessing. Wrong tokens are
//! counted per client address (IPv6 by /64, so one host cannot rotate through
//! its own subnet) with a governor GCRA limiter: `admin.auth_failures` at once,
//! then one per `auth_failure_window / auth_failures`. An address past its
//! limit is locked out: every request from it that presents a token gets 429
//! with Retry-After, the right token too, until a slot frees, so a guess can
//! be neither confirmed nor refuted. Both tables hold at most
//! `admin.auth_failure_clients` addresses; when full after forgetting idle
//! ones, a wrong token from a new address is refused (fail closed) rather than
//! an attacker forgotten. Time is the injected clock's.
//!
//! Must not see the token (only whether it matched), and must not await.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use governor::clock::Clock as GovernorClock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use palisade_models::SharedClock;
use palisade_models::config::AdminConfig;

/// governor's clock, read from Palisade's injected clock.
#[derive(Debug, Clone)]
struct GuardClock(SharedClock);

impl GovernorClock for GuardClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.0.monotonic())
    }
}

type Limiter =
    RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, GuardClock, NoOpMiddleware<Nanos>>;

/// Wrong-token counting and lockouts for the admin listener.
pub struct AuthGuard {
    limiter: Limiter,
    clock: GuardClock,
    /// Locked-out addresses and when (monotonic) they may try again. A mutex:
    /// touched only by requests that present a token, at admin rates.
    locked: Mutex<HashMap<IpAddr, Duration>>,
    max_clients: usize,
    /// Wrong tokens presented.
    failures: AtomicU64,
    /// Requests answered 429 by the lockout.
    refused: AtomicU64,
}

impl std::fmt::Debug for AuthGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthGuard")
            .field("max_clients", &self.max_clients)
            .finish_non_exhaustive()
    }
}

impl AuthGuard {
    /// A guard as `[admin]` says.
    pub fn new(cfg: &AdminConfig, clock: SharedClock) -> Self {
        Self::with(
            cfg.auth_failures,
            cfg.auth_failure_window.duration(),
            cfg.auth_failure_clients,
            clock,
        )
    }

    /// `failures` wrong tokens per `window`, `max_clients` addresses remembered.
    /// Zeros are raised to one (the config refuses them before this).
    pub fn with(failures: u32, window: Duration, max_clients: usize, clock: SharedClock) -> Self {
        let burst = NonZeroU32::new(failures).unwrap_or(NonZeroU32::MIN);
        let period = (window / burst.get()).max(Duration::from_nanos(1));
        // INVARIANT: `period` is at least 1 ns, and with_period refuses only zero.
        let quota = Quota::with_period(period)
            .expect("non-zero period")
            .allow_burst(burst);
        let clock = GuardClock(clock);
        Self {
            limiter: RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock.clone()),
            clock,
            locked: Mutex::default(),
            max_clients: max_clients.max(1),
            failures: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// Before a presented token is compared: Err(seconds to wait) while `ip`
    /// is locked out.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let key = key(ip);
        let now = self.clock.0.monotonic();
        let mut locked = self.locked.lock().unwrap_or_else(PoisonError::into_inner);
        match locked.get(&key) {
            Some(&until) if until > now => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                Err(ceil_secs(until - now))
            }
            Some(_) => {
                locked.remove(&key);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// After a wrong token: counts it; Err(seconds to wait) when it went past
    /// the limit (the address is then locked out for that long).
    pub fn failed(&self, ip: IpAddr) -> Result<(), u64> {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let key = key(ip);
        if self.limiter.len() >= self.max_clients {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
            if self.limiter.len() >= self.max_clients {
                // Fail closed: this address's attempts cannot be counted.
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(1);
            }
        }
        let Err(not_until) = self.limiter.check_key(&key) else {
            return Ok(());
        };
        let wait = not_until.wait_time_from(self.clock.now());
        let now = self.clock.0.monotonic();
        let mut locked = self.locked.lock().unwrap_or_else(PoisonError::into_inner);
        if locked.len() >= self.max_clients {
            locked.retain(|_, until| *until > now);
        }
        if locked.len() < self.max_clients || locked.contains_key(&key) {
            locked.insert(key, now + wait);
        }
        self.refused.fetch_add(1, Ordering::Relaxed);
        Err(ceil_secs(wait))
    }

    /// Wrong tokens presented since start.
    pub fn failures_total(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Requests refused with 429 since start.
    pub fn refused_total(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// The address a limit applies to: IPv6 by its /64 (one host's usual share).
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

/// Whole seconds, rounded up: Retry-After must not invite a retry too early.
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::UNIX_EPOCH;

    use palisade_models::ManualClock;

    use super::*;

    fn guard(clock: &Arc<ManualClock>) -> AuthGuard {
        AuthGuard::with(3, Duration::from_secs(60), 2, clock.clone())
    }

    #[test]
    fn past_the_limit_an_address_is_locked_out_until_a_slot_frees() {
        let clock = Arc::new(ManualClock::new(UNIX_EPOCH));
        let g = guard(&clock);
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        for _ in 0..3 {
            assert_eq!(g.check(ip), Ok(()));
            assert_eq!(g.failed(ip), Ok(()));
        }
        // The fourth wrong token crosses the limit: one slot frees in 20 s.
        assert_eq!(g.failed(ip), Err(20));
        assert_eq!(g.check(ip), Err(20));
        clock.advance(Duration::from_millis(19_500));
        assert_eq!(g.check(ip), Err(1));
        // Another address is not affected.
        assert_eq!(g.check("192.0.2.2".parse().expect("ip")), Ok(()));
        clock.advance(Duration::from_millis(500));
        assert_eq!(g.check(ip), Ok(()));
        assert_eq!(g.failed(ip), Ok(()));
        assert_eq!(g.failed(ip), Err(20));
        assert_eq!(g.failures_total(), 6);
        assert_eq!(g.refused_total(), 4);
    }

    #[test]
    fn ipv6_addresses_share_their_64() {
        let clock = Arc::new(ManualClock::new(UNIX_EPOCH));
        let g = guard(&clock);
        for i in 0..3 {
            let ip: IpAddr = format!("2001:db8::{i}").parse().expect("ip");
            assert_eq!(g.failed(ip), Ok(()));
        }
        assert!(g.failed("2001:db8::ffff".parse().expect("ip")).is_err());
        assert_eq!(g.check("2001:db8:0:1::1".parse().expect("ip")), Ok(()));
    }

    #[test]
    fn a_full_table_fails_closed_for_new_addresses_and_forgets_idle_ones() {
        let clock = Arc::new(ManualClock::new(UNIX_EPOCH));
        let g = guard(&clock);
        assert_eq!(g.failed("192.0.2.1".parse().expect("ip")), Ok(()));
        assert_eq!(g.failed("192.0.2.2".parse().expect("ip")), Ok(()));
        assert_eq!(g.failed("192.0.2.3".parse().expect("ip")), Err(1));
        // Once the first two have refilled they are forgotten, and room frees.
        clock.advance(Duration::from_secs(60));
        assert_eq!(g.failed("192.0.2.3".parse().expect("ip")), Ok(()));
    }
}
