//! Owns blocks and their audit trail: ids from a persistent sequence, and one audit
//! record (and one SIEM outbox record, when sinks want them) per change, written in
//! the same transaction as the change.
//!
//! Must not publish to the block table: the caller does, after the commit returned,
//! so the proxy never enforces a block that a crash could forget. Must not read the
//! clock: times come from the caller (`AuditInfo::at_ms`, `now_ms`).

use palisade_models::{Block, BlockId, NewBlock, SiemEvent};
use redb::{ReadableTable, Table};
use serde::{Deserialize, Serialize};

use crate::Store;
use crate::error::{Context, StoreError};
use crate::outbox::OutboxWriter;
use crate::schema::{AUDIT, AUDIT_SEQ, BLOCK_SEQ, BLOCKS, SEQUENCES, decode, encode, next_seq};

/// Who changes the block table, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditInfo {
    /// `"analytics"`, `"admin:<token id>"`, `"sweeper"`, `"config"`.
    pub actor: Box<str>,
    /// Why, in the actor's words.
    pub reason: Box<str>,
    /// When a removal happened, in milliseconds since the Unix epoch, from the
    /// caller's clock. A creation is recorded at the block's `created_ms` instead.
    pub at_ms: u64,
}

/// What happened to a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    BlockCreated,
    BlockRemoved,
    /// Removed by the sweeper once `expires_ms` had passed.
    BlockExpired,
}

/// One change to the block table, as kept in the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Increases with every record, never reused.
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub actor: Box<str>,
    pub action: AuditAction,
    /// The block as it was created or as it was when removed.
    pub block: Block,
    pub reason: Box<str>,
}

type SeqTable<'t> = Table<'t, &'static str, u64>;
type RecordTable<'t> = Table<'t, u64, &'static [u8]>;

impl Store {
    /// Stores a new block under the next id and audits it; on disk when it returns.
    pub fn insert_block(&self, new: NewBlock, audit: &AuditInfo) -> Result<Block, StoreError> {
        let mut blocks = self.insert_blocks(vec![new], audit)?;
        blocks
            .pop()
            .ok_or_else(|| StoreError::Db("inserting a block returned none".into()))
    }

    /// Stores several blocks in one transaction (one fsync), in order.
    pub fn insert_blocks(
        &self,
        new: Vec<NewBlock>,
        audit: &AuditInfo,
    ) -> Result<Vec<Block>, StoreError> {
        const WHAT: &str = "inserting blocks";
        if new.is_empty() {
            return Ok(Vec::new());
        }
        let txn = self.begin_write(WHAT)?;
        let mut outbox = OutboxWriter::open(self, &txn)?;
        let mut created = Vec::with_capacity(new.len());
        {
            let mut seq = txn.open_table(SEQUENCES).context(WHAT)?;
            let mut blocks = txn.open_table(BLOCKS).context(WHAT)?;
            let mut trail = txn.open_table(AUDIT).context(WHAT)?;
            for n in new {
                let block = n.into_block(next_seq(&mut seq, BLOCK_SEQ)?);
                blocks
                    .insert(block.id, encode(&block, "a block")?.as_slice())
                    .context(WHAT)?;
                let at_ms = block.created_ms;
                let mut trail = Trail {
                    seq: &mut seq,
                    records: &mut trail,
                    outbox: &mut outbox,
                };
                trail.append(AuditAction::BlockCreated, &block, audit, at_ms)?;
                created.push(block);
            }
        }
        let pushed = outbox.finish();
        self.commit_counting(txn, pushed, WHAT)?;
        Ok(created)
    }

    /// Deletes block `id` and audits it; `None` (and no audit record) if there was
    /// no such block.
    pub fn remove_block(
        &self,
        id: BlockId,
        audit: &AuditInfo,
    ) -> Result<Option<Block>, StoreError> {
        const WHAT: &str = "removing a block";
        let txn = self.begin_write(WHAT)?;
        let mut outbox = OutboxWriter::open(self, &txn)?;
        let removed = {
            let mut seq = txn.open_table(SEQUENCES).context(WHAT)?;
            let mut blocks = txn.open_table(BLOCKS).context(WHAT)?;
            let mut trail = txn.open_table(AUDIT).context(WHAT)?;
            let removed = match blocks.remove(id).context(WHAT)? {
                Some(bytes) => Some(decode::<Block>(bytes.value(), "a block")?),
                None => None,
            };
            if let Some(block) = &removed {
                let mut trail = Trail {
                    seq: &mut seq,
                    records: &mut trail,
                    outbox: &mut outbox,
                };
                trail.append(AuditAction::BlockRemoved, block, audit, audit.at_ms)?;
            }
            removed
        };
        if removed.is_some() {
            let pushed = outbox.finish();
            self.commit_counting(txn, pushed, WHAT)?;
        } else {
            drop(outbox);
            self.abort(txn, WHAT)?;
        }
        Ok(removed)
    }

    /// Every stored block, expired or not, by id.
    pub fn blocks(&self) -> Result<Vec<Block>, StoreError> {
        const WHAT: &str = "reading blocks";
        let txn = self.begin_read(WHAT)?;
        let table = txn.open_table(BLOCKS).context(WHAT)?;
        let mut out = Vec::new();
        for entry in table.iter().context(WHAT)? {
            let (_, v) = entry.context(WHAT)?;
            out.push(decode(v.value(), "a block")?);
        }
        Ok(out)
    }

    /// The blocks that apply at `now_ms`, by id: what the block table is loaded with
    /// at start-up.
    pub fn active_blocks(&self, now_ms: u64) -> Result<Vec<Block>, StoreError> {
        let mut blocks = self.blocks()?;
        blocks.retain(|b| b.is_active(now_ms));
        Ok(blocks)
    }

    /// Deletes the blocks expired at `now_ms`, audited as actor `"sweeper"`, and
    /// returns them. Commits (and fsyncs) only when something expired.
    pub fn sweep_blocks(&self, now_ms: u64) -> Result<Vec<Block>, StoreError> {
        const WHAT: &str = "sweeping expired blocks";
        let sweeper = AuditInfo {
            actor: "sweeper".into(),
            reason: "expired".into(),
            at_ms: now_ms,
        };
        let txn = self.begin_write(WHAT)?;
        let mut outbox = OutboxWriter::open(self, &txn)?;
        let expired = {
            let mut seq = txn.open_table(SEQUENCES).context(WHAT)?;
            let mut blocks = txn.open_table(BLOCKS).context(WHAT)?;
            let mut trail = txn.open_table(AUDIT).context(WHAT)?;
            // Blocks are few (one per blocked client), so a full scan is cheap.
            let mut expired = Vec::new();
            for entry in blocks.iter().context(WHAT)? {
                let (_, v) = entry.context(WHAT)?;
                let block: Block = decode(v.value(), "a block")?;
                if !block.is_active(now_ms) {
                    expired.push(block);
                }
            }
            let mut trail = Trail {
                seq: &mut seq,
                records: &mut trail,
                outbox: &mut outbox,
            };
            for block in &expired {
                blocks.remove(block.id).context(WHAT)?;
                trail.append(AuditAction::BlockExpired, block, &sweeper, now_ms)?;
            }
            expired
        };
        if expired.is_empty() {
            drop(outbox);
            self.abort(txn, WHAT)?;
        } else {
            let pushed = outbox.finish();
            self.commit_counting(txn, pushed, WHAT)?;
        }
        Ok(expired)
    }

    /// The newest `limit` audit records, newest first.
    pub fn audit(&self, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        const WHAT: &str = "reading the audit trail";
        let txn = self.begin_read(WHAT)?;
        let table = txn.open_table(AUDIT).context(WHAT)?;
        let mut out = Vec::new();
        for entry in table.iter().context(WHAT)?.rev().take(limit) {
            let (_, v) = entry.context(WHAT)?;
            out.push(decode(v.value(), "an audit record")?);
        }
        Ok(out)
    }
}

/// The audit trail and the SIEM outbox, open in one write transaction: every change
/// to a block is audited and queued together.
struct Trail<'a, 't> {
    seq: &'a mut SeqTable<'t>,
    records: &'a mut RecordTable<'t>,
    outbox: &'a mut OutboxWriter<'t>,
}

impl Trail<'_, '_> {
    fn append(
        &mut self,
        action: AuditAction,
        block: &Block,
        info: &AuditInfo,
        at_ms: u64,
    ) -> Result<(), StoreError> {
        let record = AuditRecord {
            seq: next_seq(self.seq, AUDIT_SEQ)?,
            at_ms,
            actor: info.actor.clone(),
            action,
            block: block.clone(),
            reason: info.reason.clone(),
        };
        self.records
            .insert(record.seq, encode(&record, "an audit record")?.as_slice())
            .context("writing an audit record")?;
        let event = match action {
            AuditAction::BlockCreated => SiemEvent::Block {
                block: block.clone(),
                actor: info.actor.clone(),
            },
            AuditAction::BlockRemoved | AuditAction::BlockExpired => SiemEvent::Unblock {
                block: block.clone(),
                actor: info.actor.clone(),
                reason: info.reason.clone(),
                expired: action == AuditAction::BlockExpired,
            },
        };
        self.outbox.push(event, at_ms)
    }
}
