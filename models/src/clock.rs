//! Owns the notion of "now" for everything that decides by time (block expiry,
//! later windows and baselines). Injected so tests advance time instead of sleeping.
//! Latency is measured with `Instant` by the caller, never through this clock.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Wall-clock time source.
pub trait Clock: Send + Sync + Debug {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;

    /// The current time in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64 {
        unix_ms(self.now())
    }

    /// Time on a timeline that never goes back, from an arbitrary origin; what
    /// rate limits measure by, since the wall clock can be set backwards.
    fn monotonic(&self) -> Duration;
}

/// The clock shared by every component of one Palisade instance.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clock.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn monotonic(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// A clock that only moves when told to; for tests and simulations.
#[derive(Debug)]
pub struct ManualClock {
    // An atomic rather than a mutex: read on every request, written by the test only.
    ms: AtomicU64,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: SystemTime) -> Self {
        Self {
            ms: AtomicU64::new(unix_ms(start)),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.ms.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.ms.load(Ordering::SeqCst))
    }

    /// Moves with `advance` only, so it never goes back either.
    fn monotonic(&self) -> Duration {
        Duration::from_millis(self.ms.load(Ordering::SeqCst))
    }
}

/// Milliseconds since the Unix epoch; times before it count as zero.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Microseconds since the Unix epoch; times before it count as zero.
pub fn unix_us(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let c = ManualClock::new(UNIX_EPOCH + Duration::from_secs(100));
        assert_eq!(c.now_ms(), 100_000);
        c.advance(Duration::from_millis(1500));
        assert_eq!(c.now_ms(), 101_500);
    }
}
