//! Owns the SIEM outbox: the records waiting for delivery, one cursor per sink, and
//! the dead letters receivers refused.
//!
//! A record is written in the same transaction as the fact it reports (a finding,
//! a block, an unblock), so a crash can lose neither without the other. It is
//! deleted once every sink's cursor has passed it. Records are kept once, however
//! many sinks there are; the table always holds one contiguous run of sequence
//! numbers (deletions happen only at the oldest end), which makes a sink's depth
//! `head - cursor` without a scan.
//!
//! Must not deliver anything, decide what a sink accepts, or read the clock.

use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use palisade_models::config::WhenFull;
use palisade_models::{SiemEvent, SiemRecord};
use redb::{ReadableTable, ReadableTableMetadata, Table, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::Store;
use crate::error::{Context, StoreError};
use crate::schema::{DEAD_LETTERS, OUTBOX, OUTBOX_CURSORS, OUTBOX_META, decode, encode};

/// `OUTBOX_META` keys.
pub(crate) const HEAD: &str = "head";
pub(crate) const INSTANCE: &str = "instance";
const DEAD_SEQ: &str = "dead_letter_seq";

/// The most dead letters kept; the oldest go first.
pub const MAX_DEAD_LETTERS: u64 = 10_000;

/// What the outbox queues and how much it holds: set once at start from the
/// `[siem]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxPolicy {
    /// The categories any sink forwards (`SiemCategory::bit`); 0 queues nothing.
    pub mask: u8,
    /// The most records held.
    pub max_records: u64,
    pub when_full: WhenFull,
}

impl OutboxPolicy {
    /// Queues nothing: the policy of a store with no sinks configured.
    pub const OFF: OutboxPolicy = OutboxPolicy {
        mask: 0,
        max_records: 0,
        when_full: WhenFull::DropOldest,
    };
}

/// The outbox's part of `Store`.
pub(crate) struct OutboxState {
    policy: RwLock<OutboxPolicy>,
    /// Records dropped or refused because the outbox was full, since open.
    dropped: AtomicU64,
    /// Called after a commit that queued records: wakes the forwarders.
    waker: RwLock<Option<Waker>>,
}

/// What `Store::set_outbox_waker` takes.
pub type Waker = std::sync::Arc<dyn Fn() + Send + Sync>;

impl std::fmt::Debug for OutboxState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxState")
            .field("policy", &self.policy)
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}

impl OutboxState {
    pub(crate) fn new() -> Self {
        Self {
            policy: RwLock::new(OutboxPolicy::OFF),
            dropped: AtomicU64::new(0),
            waker: RwLock::new(None),
        }
    }

    fn policy(&self) -> OutboxPolicy {
        self.policy
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Records for one sink, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxBatch {
    /// The records the sink wants, at most the limit asked for.
    pub records: Vec<SiemRecord>,
    /// The sink's cursor when the batch was read.
    pub from: u64,
    /// The last sequence number examined (`from` when none was): acknowledging up
    /// to it also passes the records the sink does not want.
    pub scanned_to: u64,
}

/// A record a receiver refused as malformed, kept for operators instead of being
/// retried forever.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Increases with every dead letter.
    pub seq: u64,
    pub sink: Box<str>,
    /// When it was refused, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// What the receiver said (its status and the start of its answer).
    pub reason: Box<str>,
    pub record: SiemRecord,
}

/// One sink's position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkDepth {
    pub sink: Box<str>,
    /// Records after its cursor (some of which it may not want).
    pub depth: u64,
    /// When the oldest of them entered the outbox, if any.
    pub oldest_ms: Option<u64>,
}

/// Appends records inside a write transaction that also writes what they report.
pub(crate) struct OutboxWriter<'t> {
    inner: Option<Open<'t>>,
    policy: OutboxPolicy,
    dropped: u64,
    queued: u64,
    /// Bytes of the records queued (for the quota).
    pub(crate) added: u64,
}

struct Open<'t> {
    records: Table<'t, u64, &'static [u8]>,
    meta: Table<'t, &'static str, u64>,
}

impl<'t> OutboxWriter<'t> {
    /// Opens the outbox tables in `txn`, unless the policy queues nothing.
    pub(crate) fn open(store: &Store, txn: &'t WriteTransaction) -> Result<Self, StoreError> {
        const WHAT: &str = "opening the SIEM outbox";
        let policy = store.outbox.policy();
        let inner = if policy.mask == 0 {
            None
        } else {
            Some(Open {
                records: txn.open_table(OUTBOX).context(WHAT)?,
                meta: txn.open_table(OUTBOX_META).context(WHAT)?,
            })
        };
        Ok(Self {
            inner,
            policy,
            dropped: 0,
            queued: 0,
            added: 0,
        })
    }

    /// Queues `event`, made at `at_ms`, if a sink wants its category.
    pub(crate) fn push(&mut self, event: SiemEvent, at_ms: u64) -> Result<(), StoreError> {
        const WHAT: &str = "queueing a SIEM record";
        let Some(open) = self.inner.as_mut() else {
            return Ok(());
        };
        if self.policy.mask & event.category().bit() == 0 {
            return Ok(());
        }
        if open.records.len().context(WHAT)? >= self.policy.max_records {
            self.dropped += 1;
            match self.policy.when_full {
                WhenFull::RefuseNew => return Ok(()),
                WhenFull::DropOldest => {
                    open.records.pop_first().context(WHAT)?;
                }
            }
        }
        let seq = get(&open.meta, HEAD)? + 1;
        let instance = get(&open.meta, INSTANCE)?;
        let record = SiemRecord {
            seq,
            id: format!("{instance:016x}-{seq}").into(),
            created_ms: at_ms,
            event,
        };
        let bytes = encode(&record, "a SIEM record")?;
        self.added += bytes.len() as u64;
        open.records.insert(seq, bytes.as_slice()).context(WHAT)?;
        open.meta.insert(HEAD, seq).context(WHAT)?;
        self.queued += 1;
        Ok(())
    }
}

/// What one transaction did to the outbox.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pushed {
    dropped: u64,
    queued: u64,
}

impl OutboxWriter<'_> {
    /// Closes the tables, releasing the transaction for its commit, and says what
    /// was queued and what was dropped or refused because the outbox was full.
    pub(crate) fn finish(self) -> Pushed {
        Pushed {
            dropped: self.dropped,
            queued: self.queued,
        }
    }
}

fn get(meta: &impl ReadableTable<&'static str, u64>, key: &str) -> Result<u64, StoreError> {
    Ok(meta
        .get(key)
        .context("reading the outbox's position")?
        .map_or(0, |v| v.value()))
}

impl Store {
    /// Sets what the outbox queues and for which sinks. A sink new to the file
    /// starts at the current head (it is not sent what was queued before it
    /// existed); a sink no longer configured loses its cursor, and the records only
    /// it was waiting for are deleted. Returns the names of those forgotten sinks.
    pub fn configure_outbox(
        &self,
        policy: OutboxPolicy,
        sinks: &[&str],
    ) -> Result<Vec<String>, StoreError> {
        const WHAT: &str = "configuring the SIEM outbox";
        let txn = self.begin_write(WHAT)?;
        let forgotten = {
            let meta = txn.open_table(OUTBOX_META).context(WHAT)?;
            let head = get(&meta, HEAD)?;
            let mut cursors = txn.open_table(OUTBOX_CURSORS).context(WHAT)?;
            let mut forgotten = Vec::new();
            for entry in cursors.iter().context(WHAT)? {
                let (name, _) = entry.context(WHAT)?;
                if !sinks.contains(&name.value()) {
                    forgotten.push(name.value().to_string());
                }
            }
            for name in &forgotten {
                cursors.remove(name.as_str()).context(WHAT)?;
            }
            for sink in sinks {
                if cursors.get(*sink).context(WHAT)?.is_none() {
                    cursors.insert(*sink, head).context(WHAT)?;
                }
            }
            let mut records = txn.open_table(OUTBOX).context(WHAT)?;
            trim_delivered(&cursors, &mut records, head)?;
            forgotten
        };
        self.commit(txn, WHAT)?;
        *self
            .outbox
            .policy
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = policy;
        Ok(forgotten)
    }

    /// Queues events that are not stored anywhere else (denied-request summaries),
    /// each at its own time.
    pub fn enqueue(&self, events: Vec<(SiemEvent, u64)>) -> Result<(), StoreError> {
        const WHAT: &str = "queueing SIEM records";
        if events.is_empty() {
            return Ok(());
        }
        let n = events.len() as u64;
        let r = (|| {
            let txn = self.begin_write(WHAT)?;
            let mut outbox = OutboxWriter::open(self, &txn)?;
            for (event, at_ms) in events {
                outbox.push(event, at_ms)?;
            }
            let added = outbox.added;
            let pushed = outbox.finish();
            self.admit(&txn, added)?;
            self.commit_counting(txn, pushed, WHAT)
        })();
        if r.is_err() {
            self.not_persisted(n);
        }
        self.adding(r)
    }

    /// Commits `txn`, then counts what its outbox writer dropped and wakes the
    /// forwarders if it queued anything.
    pub(crate) fn commit_counting(
        &self,
        txn: WriteTransaction,
        pushed: Pushed,
        what: &str,
    ) -> Result<(), StoreError> {
        self.commit(txn, what)?;
        if pushed.dropped > 0 {
            self.outbox
                .dropped
                .fetch_add(pushed.dropped, Ordering::Relaxed);
        }
        if pushed.queued > 0 {
            let waker = self
                .outbox
                .waker
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            if let Some(wake) = waker {
                wake();
            }
        }
        Ok(())
    }

    /// Sets what is called after each commit that queued SIEM records.
    pub fn set_outbox_waker(&self, waker: Waker) {
        *self
            .outbox
            .waker
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(waker);
    }

    /// Up to `limit` records after `sink`'s cursor that it wants (`mask`), oldest
    /// first, examining at most `16 * limit` records.
    pub fn outbox_batch(
        &self,
        sink: &str,
        mask: u8,
        limit: usize,
    ) -> Result<OutboxBatch, StoreError> {
        const WHAT: &str = "reading the SIEM outbox";
        let txn = self.begin_read(WHAT)?;
        let cursors = txn.open_table(OUTBOX_CURSORS).context(WHAT)?;
        let Some(cursor) = cursors.get(sink).context(WHAT)?.map(|v| v.value()) else {
            return Err(StoreError::Db(format!(
                "sink `{sink}` has no outbox cursor: configure_outbox was not called with it"
            )));
        };
        let records = txn.open_table(OUTBOX).context(WHAT)?;
        let mut batch = OutboxBatch {
            records: Vec::new(),
            from: cursor,
            scanned_to: cursor,
        };
        let limit = limit.max(1);
        for entry in records
            .range(cursor + 1..)
            .context(WHAT)?
            .take(limit.saturating_mul(16))
        {
            let (k, v) = entry.context(WHAT)?;
            let record: SiemRecord = decode(v.value(), "a SIEM record")?;
            if mask & record.event.category().bit() != 0 {
                batch.records.push(record);
            }
            batch.scanned_to = k.value();
            if batch.records.len() == limit {
                break;
            }
        }
        Ok(batch)
    }

    /// Moves `sink`'s cursor to `upto` (delivered, or not wanted) and deletes the
    /// records every sink has passed. A cursor never moves back.
    pub fn outbox_ack(&self, sink: &str, upto: u64) -> Result<(), StoreError> {
        const WHAT: &str = "acknowledging SIEM records";
        let txn = self.begin_write(WHAT)?;
        self.advance(&txn, sink, upto, WHAT)?;
        self.commit(txn, WHAT)?;
        self.freed();
        Ok(())
    }

    /// Keeps `record` as refused by `sink` for `reason` and moves the sink past it,
    /// in one transaction.
    pub fn outbox_dead_letter(
        &self,
        sink: &str,
        record: &SiemRecord,
        reason: &str,
        at_ms: u64,
    ) -> Result<(), StoreError> {
        let r = self.dead_letter_inner(sink, record, reason, at_ms);
        self.adding(r)
    }

    fn dead_letter_inner(
        &self,
        sink: &str,
        record: &SiemRecord,
        reason: &str,
        at_ms: u64,
    ) -> Result<(), StoreError> {
        const WHAT: &str = "keeping a dead letter";
        let added;
        let txn = self.begin_write(WHAT)?;
        {
            let mut meta = txn.open_table(OUTBOX_META).context(WHAT)?;
            let seq = get(&meta, DEAD_SEQ)? + 1;
            meta.insert(DEAD_SEQ, seq).context(WHAT)?;
            let letter = DeadLetter {
                seq,
                sink: sink.into(),
                at_ms,
                reason: reason.into(),
                record: record.clone(),
            };
            let mut dead = txn.open_table(DEAD_LETTERS).context(WHAT)?;
            let bytes = encode(&letter, "a dead letter")?;
            added = bytes.len() as u64;
            dead.insert(seq, bytes.as_slice()).context(WHAT)?;
            while dead.len().context(WHAT)? > MAX_DEAD_LETTERS {
                dead.pop_first().context(WHAT)?;
            }
        }
        self.advance(&txn, sink, record.seq, WHAT)?;
        self.admit(&txn, added)?;
        self.commit(txn, WHAT)
    }

    fn advance(
        &self,
        txn: &WriteTransaction,
        sink: &str,
        upto: u64,
        what: &str,
    ) -> Result<(), StoreError> {
        let meta = txn.open_table(OUTBOX_META).context(what)?;
        let head = get(&meta, HEAD)?;
        let mut cursors = txn.open_table(OUTBOX_CURSORS).context(what)?;
        let current = cursors.get(sink).context(what)?.map(|v| v.value());
        let Some(current) = current else {
            return Err(StoreError::Db(format!(
                "sink `{sink}` has no outbox cursor"
            )));
        };
        if upto > current {
            cursors.insert(sink, upto.min(head)).context(what)?;
        }
        let mut records = txn.open_table(OUTBOX).context(what)?;
        trim_delivered(&cursors, &mut records, head)
    }

    /// Each sink's depth, by name.
    pub fn outbox_depths(&self) -> Result<Vec<SinkDepth>, StoreError> {
        const WHAT: &str = "measuring the SIEM outbox";
        let txn = self.begin_read(WHAT)?;
        let meta = txn.open_table(OUTBOX_META).context(WHAT)?;
        let head = meta.get(HEAD).context(WHAT)?.map_or(0, |v| v.value());
        let records = txn.open_table(OUTBOX).context(WHAT)?;
        let first = match records.first().context(WHAT)? {
            Some((k, _)) => k.value(),
            None => head + 1,
        };
        let cursors = txn.open_table(OUTBOX_CURSORS).context(WHAT)?;
        let mut out = Vec::new();
        for entry in cursors.iter().context(WHAT)? {
            let (name, cursor) = entry.context(WHAT)?;
            // Records before `first` were dropped or delivered: not waiting.
            let from = cursor.value().max(first - 1);
            let oldest_ms = match records.get(from + 1).context(WHAT)? {
                Some(v) => Some(decode::<SiemRecord>(v.value(), "a SIEM record")?.created_ms),
                None => None,
            };
            out.push(SinkDepth {
                sink: name.value().into(),
                depth: head.saturating_sub(from),
                oldest_ms,
            });
        }
        Ok(out)
    }

    /// How many records the outbox holds.
    pub fn outbox_len(&self) -> Result<u64, StoreError> {
        const WHAT: &str = "measuring the SIEM outbox";
        let txn = self.begin_read(WHAT)?;
        txn.open_table(OUTBOX).context(WHAT)?.len().context(WHAT)
    }

    /// Records dropped or refused because the outbox was full, since the store was
    /// opened.
    pub fn outbox_dropped(&self) -> u64 {
        self.outbox.dropped.load(Ordering::Relaxed)
    }

    /// The newest `limit` dead letters, newest first, optionally of one sink.
    pub fn dead_letters(
        &self,
        sink: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        const WHAT: &str = "reading dead letters";
        let txn = self.begin_read(WHAT)?;
        let table = txn.open_table(DEAD_LETTERS).context(WHAT)?;
        let mut out = Vec::new();
        for entry in table.iter().context(WHAT)?.rev() {
            if out.len() >= limit {
                break;
            }
            let (_, v) = entry.context(WHAT)?;
            let letter: DeadLetter = decode(v.value(), "a dead letter")?;
            if sink.is_none_or(|s| *letter.sink == *s) {
                out.push(letter);
            }
        }
        Ok(out)
    }

    /// How many dead letters are kept.
    pub fn count_dead_letters(&self) -> Result<u64, StoreError> {
        const WHAT: &str = "counting dead letters";
        let txn = self.begin_read(WHAT)?;
        txn.open_table(DEAD_LETTERS)
            .context(WHAT)?
            .len()
            .context(WHAT)
    }
}

/// Deletes the records every cursor has passed (all of them when no sink is left).
fn trim_delivered(
    cursors: &Table<'_, &'static str, u64>,
    records: &mut Table<'_, u64, &'static [u8]>,
    head: u64,
) -> Result<(), StoreError> {
    const WHAT: &str = "deleting delivered SIEM records";
    let mut low = head;
    for entry in cursors.iter().context(WHAT)? {
        let (_, c) = entry.context(WHAT)?;
        low = low.min(c.value());
    }
    records.retain_in(..=low, |_, _| false).context(WHAT)?;
    Ok(())
}
