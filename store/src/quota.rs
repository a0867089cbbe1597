//! Owns the store's disk quota (`store.max_bytes`) and its memory-only mode.
//!
//! The quota bounds the bytes redb has allocated inside its file, not the file's
//! length: redb grows the file in steps and never gives space back without a
//! compaction, but it reuses the pages retention frees, so allocated bytes are
//! what goes down when retention deletes, and what lets the store recover. They
//! cost a walk of the database's pages to measure, so the walk is made only when
//! the file is longer than the quota (below that, allocated bytes cannot exceed
//! it), and then rarely: a measurement leaves a budget that writes spend from
//! (at an over-estimate of what they add) until the next one is needed.
//!
//! Only writes that add records are refused (findings, SIEM records, the
//! inventory and baselines, dead letters): blocks and their audit, deletions,
//! acknowledgements and retention always go through, so enforcement and the
//! cleanup that frees space never stop. A refused or failed write (the quota, or
//! a real I/O error such as a full disk) marks the store degraded until a write
//! that adds records succeeds again.
//!
//! While degraded, findings are kept here in memory (`save_findings`), bounded
//! by `MAX_MEMORY_FINDINGS`, and every read of findings sees them; they are
//! written, and queued for the SIEM sinks, as soon as the store accepts writes
//! again. Must not read the clock or log (the caller reports transitions).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use palisade_models::Finding;
use redb::WriteTransaction;

use crate::Store;
use crate::error::{Context, StoreError};

/// The most findings kept in memory while the store refuses writes; beyond it
/// the oldest are dropped (counted as lost). About 1-2 KiB each.
pub const MAX_MEMORY_FINDINGS: usize = 10_000;

/// Allowance for redb's own pages (branch pages rewritten, the allocator's
/// state) in each write, on top of twice the bytes of its records.
const WRITE_OVERHEAD: u64 = 64 * 1024;

/// What the store reports about its quota and memory-only mode (`/metrics`,
/// `/readyz`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreHealth {
    /// True while writes that add records are refused or failing: findings are
    /// kept in memory only.
    pub degraded: bool,
    /// The quota (`store.max_bytes`); `u64::MAX` when none was set.
    pub max_bytes: u64,
    /// Records that could not be written when they were made (kept in memory,
    /// written later if the store recovers in time), since open.
    pub unpersisted: u64,
    /// Of those, dropped because the memory bound was full, since open.
    pub lost: u64,
    /// Findings held in memory now.
    pub memory_findings: u64,
}

/// Whether a finding reached the disk.
#[derive(Debug)]
pub enum Saved {
    /// Stored (with every finding held in memory before it).
    Disk,
    /// Kept in memory: the store refused or failed, for this reason.
    Memory(StoreError),
}

/// How much may still be written before allocated bytes must be measured again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Budget {
    /// Not measured since the file passed the quota, or since space was freed.
    Unknown,
    /// At most this many more bytes fit.
    Left(u64),
    /// Measured over the quota: refused without measuring until space is freed.
    Over,
}

/// The quota's part of `Store`.
#[derive(Debug)]
pub(crate) struct QuotaState {
    max_bytes: AtomicU64,
    budget: Mutex<Budget>,
    degraded: AtomicBool,
    unpersisted: AtomicU64,
    lost: AtomicU64,
    /// Findings not yet written, oldest first. Appended to by the one analytics
    /// thread; a mutex since the admin API reads it.
    memory: Mutex<VecDeque<Finding>>,
}

impl QuotaState {
    pub(crate) fn new() -> Self {
        Self {
            max_bytes: AtomicU64::new(u64::MAX),
            budget: Mutex::new(Budget::Unknown),
            degraded: AtomicBool::new(false),
            unpersisted: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            memory: Mutex::new(VecDeque::new()),
        }
    }

    fn budget(&self) -> MutexGuard<'_, Budget> {
        self.budget.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn memory(&self) -> MutexGuard<'_, VecDeque<Finding>> {
        self.memory.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store {
    /// Sets the quota on allocated bytes (`store.max_bytes`).
    pub fn set_max_bytes(&self, max_bytes: u64) {
        self.quota.max_bytes.store(max_bytes, Ordering::Relaxed);
        *self.quota.budget() = Budget::Unknown;
    }

    /// The quota, the memory-only mode and what it cost.
    pub fn health(&self) -> StoreHealth {
        StoreHealth {
            degraded: self.quota.degraded.load(Ordering::Acquire),
            max_bytes: self.quota.max_bytes.load(Ordering::Relaxed),
            unpersisted: self.quota.unpersisted.load(Ordering::Relaxed),
            lost: self.quota.lost.load(Ordering::Relaxed),
            memory_findings: self.quota.memory().len() as u64,
        }
    }

    /// Stores `new` findings together with those held in memory, or, when the
    /// store refuses (quota) or fails (a full disk), keeps `new` in memory, where
    /// reads still find them, until a later call stores them all. While the quota
    /// is known to be full, nothing is attempted until space is freed.
    pub fn save_findings(&self, new: Vec<Finding>) -> Saved {
        let over = *self.quota.budget() == Budget::Over;
        let held: Vec<Finding> = self.quota.memory().iter().cloned().collect();
        if held.is_empty() && new.is_empty() {
            return Saved::Disk;
        }
        let result = if over {
            Err(self.full())
        } else {
            let mut all = held;
            all.extend(new.iter().cloned());
            self.insert_findings(&all).map(|()| all.len() - new.len())
        };
        match result {
            Ok(stored_held) => {
                // Only this thread appends, so the first `stored_held` are those stored.
                let mut mem = self.quota.memory();
                let n = stored_held.min(mem.len());
                mem.drain(..n);
                if mem.is_empty() {
                    self.quota.degraded.store(false, Ordering::Release);
                }
                Saved::Disk
            }
            Err(e) => {
                self.quota.degraded.store(true, Ordering::Release);
                self.quota
                    .unpersisted
                    .fetch_add(new.len() as u64, Ordering::Relaxed);
                let mut mem = self.quota.memory();
                mem.extend(new);
                let excess = mem.len().saturating_sub(MAX_MEMORY_FINDINGS);
                if excess > 0 {
                    mem.drain(..excess);
                    self.quota.lost.fetch_add(excess as u64, Ordering::Relaxed);
                }
                Saved::Memory(e)
            }
        }
    }

    /// Marks the outcome of a write that adds records: a failure degrades the
    /// store, a success ends memory-only mode once nothing is held in memory.
    pub(crate) fn adding<T>(&self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        match &r {
            Err(_) => self.quota.degraded.store(true, Ordering::Release),
            Ok(_) => {
                if self.quota.memory().is_empty() {
                    self.quota.degraded.store(false, Ordering::Release);
                }
            }
        }
        r
    }

    /// Records that a write which adds records refused or failed, for records
    /// that are not kept anywhere else (the inventory, SIEM summaries).
    pub(crate) fn not_persisted(&self, records: u64) {
        self.quota.unpersisted.fetch_add(records, Ordering::Relaxed);
    }

    /// Space was freed (deletions committed): the next write measures again.
    pub(crate) fn freed(&self) {
        let mut b = self.quota.budget();
        if *b == Budget::Over {
            *b = Budget::Unknown;
        }
    }

    /// Refuses `txn`, which adds about `added` bytes of records, if committing it
    /// would leave redb's allocated bytes over the quota.
    pub(crate) fn admit(&self, txn: &WriteTransaction, added: u64) -> Result<(), StoreError> {
        const WHAT: &str = "measuring the store against store.max_bytes";
        let max = self.quota.max_bytes.load(Ordering::Relaxed);
        if max == u64::MAX {
            return Ok(());
        }
        let mut budget = self.quota.budget();
        let file_len = std::fs::metadata(&self.path).map_or(u64::MAX, |m| m.len());
        if file_len <= max {
            // Allocated pages all lie inside the file.
            *budget = Budget::Unknown;
            return Ok(());
        }
        let cost = added.saturating_mul(2).saturating_add(WRITE_OVERHEAD);
        match *budget {
            Budget::Left(n) if n >= cost => {
                *budget = Budget::Left(n - cost);
                return Ok(());
            }
            Budget::Over => return Err(self.full()),
            _ => {}
        }
        // Includes the pages this transaction allocated.
        let stats = txn.stats().context(WHAT)?;
        let allocated = stats.allocated_pages() * stats.page_size() as u64;
        if allocated > max {
            *budget = Budget::Over;
            return Err(self.full());
        }
        *budget = Budget::Left(max - allocated);
        Ok(())
    }

    fn full(&self) -> StoreError {
        StoreError::Full {
            path: self.path.clone(),
            max_bytes: self.quota.max_bytes.load(Ordering::Relaxed),
        }
    }

    /// Findings held in memory that `keep` accepts.
    pub(crate) fn memory_findings(&self, keep: impl Fn(&Finding) -> bool) -> Vec<Finding> {
        self.quota
            .memory()
            .iter()
            .filter(|f| keep(f))
            .cloned()
            .collect()
    }
}
