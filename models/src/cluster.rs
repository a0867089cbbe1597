//! Owns the seam between the proxy's rate limits and a bucket shared by the whole
//! fleet: when a sidecar's local lease of a `scope = "cluster"` limit runs out, the
//! proxy asks for more tokens through `ClusterLimiter`; the fleet crate answers
//! from Redis. The proxy depends on this trait, never on the fleet crate.

use std::future::Future;
use std::pin::Pin;

/// A request for tokens of one shared GCRA bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakeTokens {
    /// The bucket's name within the service (route template, limit, client).
    pub bucket: String,
    /// Microseconds between two tokens (the period divided by the count).
    pub emission_us: u64,
    /// Tokens the bucket holds when full.
    pub burst: u32,
    /// Tokens wanted: one for this request, the rest a lease for the next ones.
    pub want: u32,
}

/// The bucket's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// This many tokens (at least one, at most `want`) are this sidecar's.
    Granted(u32),
    /// None left; the next one in this long.
    Refused { retry_after_ms: u64 },
}

/// What a take returns: Err when the shared bucket could not be reached in time
/// (the message says why).
pub type TakeFuture = Pin<Box<dyn Future<Output = Result<Taken, String>> + Send>>;

/// The fleet's shared buckets.
pub trait ClusterLimiter: Send + Sync + std::fmt::Debug {
    fn take(&self, t: TakeTokens) -> TakeFuture;
    /// While the buckets cannot be reached: true falls back to the route's limit
    /// counted by this sidecar alone, false refuses (429).
    fn fail_open(&self) -> bool;
}
