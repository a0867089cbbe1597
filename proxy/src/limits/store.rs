//! Owns the per-client limiter's table: governor's GCRA state per client key in
//! a DashMap, with a budget of new keys per sweep interval. Keys beyond the
//! budget share one overflow bucket until the next sweep, so a client rotating
//! addresses is limited together with its other addresses instead of growing
//! the table. This is governor's `StateStore` extension point; its own DashMap
//! store has no such budget.
//!
//! Must not block: a lookup holds a shard's lock for one compare-and-swap.

use std::hash::Hash;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use dashmap::DashMap;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::state::keyed::ShrinkableKeyedStateStore;

/// A handle on one table; the limiter holds one and the sweeper another.
#[derive(Debug)]
pub(crate) struct BoundedStore<K: Hash + Eq>(Arc<Inner<K>>);

impl<K: Hash + Eq> Clone for BoundedStore<K> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

#[derive(Debug)]
pub(crate) struct Inner<K: Hash + Eq> {
    /// Each client's theoretical arrival time (GCRA), in nanoseconds since the
    /// limiter started; 0 means a fresh client.
    map: DashMap<K, AtomicU64>,
    /// The shared bucket of clients over the new-key budget.
    overflow: AtomicU64,
    /// New keys admitted since the last sweep.
    admitted: AtomicU32,
    budget: u32,
    /// Checks that went to the overflow bucket, since start.
    overflowed: AtomicU64,
}

impl<K: Hash + Eq + Clone> BoundedStore<K> {
    pub(crate) fn new(budget: u32) -> Self {
        Self(Arc::new(Inner {
            map: DashMap::new(),
            overflow: AtomicU64::new(0),
            admitted: AtomicU32::new(0),
            budget,
            overflowed: AtomicU64::new(0),
        }))
    }

    /// Starts a new interval of the new-key budget.
    pub(crate) fn renew_budget(&self) {
        self.0.admitted.store(0, Ordering::Relaxed);
    }

    /// Checks measured against the overflow bucket since start.
    pub(crate) fn overflowed(&self) -> u64 {
        self.0.overflowed.load(Ordering::Relaxed)
    }

    /// Slots the table holds memory for.
    pub(crate) fn capacity(&self) -> usize {
        self.0.map.capacity()
    }

    fn admit(&self) -> bool {
        // Relaxed and approximate under races: the budget bounds growth, it is
        // not a quota anyone is owed.
        if self.0.admitted.load(Ordering::Relaxed) >= self.0.budget {
            return false;
        }
        self.0.admitted.fetch_add(1, Ordering::Relaxed);
        true
    }
}

/// governor's compare-and-swap over one client's state (`InMemoryState` does
/// the same but keeps it crate-private).
fn measure<T, E>(
    state: &AtomicU64,
    f: impl Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
) -> Result<T, E> {
    let mut prev = state.load(Ordering::Acquire);
    loop {
        let (result, next) = f(NonZeroU64::new(prev).map(|n| Nanos::from(n.get())))?;
        match state.compare_exchange_weak(prev, next.as_u64(), Ordering::Release, Ordering::Relaxed)
        {
            Ok(_) => return Ok(result),
            Err(now) => prev = now,
        }
    }
}

impl<K: Hash + Eq + Clone> StateStore for BoundedStore<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        if let Some(state) = self.0.map.get(key) {
            return measure(&state, f);
        }
        if !self.admit() {
            self.0.overflowed.fetch_add(1, Ordering::Relaxed);
            return measure(&self.0.overflow, f);
        }
        let state = self.0.map.entry(key.clone()).or_default();
        measure(&state, f)
    }
}

impl<K: Hash + Eq + Clone> ShrinkableKeyedStateStore<K> for BoundedStore<K> {
    fn retain_recent(&self, drop_below: Nanos) {
        let below = drop_below.as_u64();
        self.0
            .map
            .retain(|_, state| state.load(Ordering::Relaxed) > below);
    }

    fn shrink_to_fit(&self) {
        self.0.map.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.0.map.len()
    }

    fn is_empty(&self) -> bool {
        self.0.map.is_empty()
    }
}
