//! Owns the block table: an immutable snapshot of active blocks that the proxy reads
//! on every request without taking a lock, and the single writer that replaces it.
//!
//! Must not block readers: a reader's cost is one `ArcSwap` load plus hash lookups.
//! Writes copy the snapshot (blocks change rarely; requests are constant), so batch
//! changes with `apply` when there are many.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use ipnet::IpNet;

use crate::block::{Block, BlockId, BlockScope, NewBlock};
use crate::client::ClientKeys;

/// The read side, cloned into every proxy worker.
#[derive(Debug, Clone)]
pub struct BlockTable {
    // ArcSwap rather than RwLock: readers never wait, even while the writer swaps.
    current: Arc<ArcSwap<Snapshot>>,
}

/// The only write side. Not `Clone`: every change to blocks goes through the one
/// owner of this value (analytics, admin and fleet send their changes to it).
#[derive(Debug)]
pub struct BlockWriter {
    current: Arc<ArcSwap<Snapshot>>,
    next_id: BlockId,
}

/// One change to apply to the table.
#[derive(Debug, Clone)]
pub enum BlockChange {
    /// A new block; the writer assigns its id.
    Add(NewBlock),
    /// A block that already has its id (restored from the store, or numbered by
    /// it); later `Add`s are numbered after it.
    Put(Block),
    Remove(BlockId),
}

#[derive(Debug, Default)]
struct Snapshot {
    all: BTreeMap<BlockId, Arc<Block>>,
    by_ip: HashMap<IpAddr, Vec<Arc<Block>>>,
    cidrs: Vec<(IpNet, Arc<Block>)>,
    by_subject: HashMap<Box<str>, Vec<Arc<Block>>>,
    by_api_key: HashMap<Box<str>, Vec<Arc<Block>>>,
}

impl BlockTable {
    /// A new, empty table and its writer.
    pub fn new() -> (BlockTable, BlockWriter) {
        let current = Arc::new(ArcSwap::from_pointee(Snapshot::default()));
        (
            BlockTable {
                current: current.clone(),
            },
            BlockWriter {
                current,
                next_id: 1,
            },
        )
    }

    /// The first active block matching any of the client's keys.
    pub fn lookup(&self, keys: ClientKeys<'_>, now_ms: u64) -> Option<Arc<Block>> {
        let snap = self.current.load();
        if snap.all.is_empty() {
            return None;
        }
        let active = |list: Option<&Vec<Arc<Block>>>| {
            list.and_then(|l| l.iter().find(|b| b.is_active(now_ms)).cloned())
        };
        if let Some(b) = active(snap.by_ip.get(&keys.ip)) {
            return Some(b);
        }
        if let Some((_, b)) = snap
            .cidrs
            .iter()
            .find(|(net, b)| net.contains(&keys.ip) && b.is_active(now_ms))
        {
            return Some(b.clone());
        }
        if let Some(b) = keys.subject.and_then(|s| active(snap.by_subject.get(s))) {
            return Some(b);
        }
        keys.api_key_id.and_then(|k| active(snap.by_api_key.get(k)))
    }

    /// True when no block is published (the usual case, answered with one load).
    pub fn is_empty(&self) -> bool {
        self.current.load().all.is_empty()
    }

    /// Every block in the table, expired or not, by id.
    pub fn list(&self) -> Vec<Arc<Block>> {
        self.current.load().all.values().cloned().collect()
    }
}

impl BlockWriter {
    /// A reader of this writer's table.
    pub fn table(&self) -> BlockTable {
        BlockTable {
            current: self.current.clone(),
        }
    }

    /// Publishes one block; the proxy enforces it from its next request on.
    pub fn publish(&mut self, block: NewBlock) -> BlockId {
        let first = self.next_id;
        self.apply(vec![BlockChange::Add(block)]);
        first
    }

    /// Removes a block; returns it if it existed.
    pub fn remove(&mut self, id: BlockId) -> Option<Arc<Block>> {
        let existing = self.current.load().all.get(&id).cloned();
        if existing.is_some() {
            self.apply(vec![BlockChange::Remove(id)]);
        }
        existing
    }

    /// Drops blocks that expired at or before `now_ms`; returns them.
    pub fn sweep(&mut self, now_ms: u64) -> Vec<Arc<Block>> {
        let expired: Vec<Arc<Block>> = self
            .current
            .load()
            .all
            .values()
            .filter(|b| !b.is_active(now_ms))
            .cloned()
            .collect();
        if !expired.is_empty() {
            self.apply(expired.iter().map(|b| BlockChange::Remove(b.id)).collect());
        }
        expired
    }

    /// Applies many changes with one copy and one swap. Returns the ids assigned to
    /// the added blocks, in order.
    pub fn apply(&mut self, changes: Vec<BlockChange>) -> Vec<BlockId> {
        let mut all = self.current.load().all.clone();
        let mut added = Vec::new();
        for change in changes {
            match change {
                BlockChange::Add(new) => {
                    let id = self.next_id;
                    self.next_id += 1;
                    all.insert(id, Arc::new(new.into_block(id)));
                    added.push(id);
                }
                BlockChange::Put(block) => {
                    self.next_id = self.next_id.max(block.id + 1);
                    all.insert(block.id, Arc::new(block));
                }
                BlockChange::Remove(id) => {
                    all.remove(&id);
                }
            }
        }
        self.current.store(Arc::new(Snapshot::index(all)));
        added
    }
}

impl Snapshot {
    fn index(all: BTreeMap<BlockId, Arc<Block>>) -> Self {
        let mut snap = Snapshot::default();
        for block in all.values() {
            let b = block.clone();
            match &block.scope {
                BlockScope::Ip(ip) => snap.by_ip.entry(*ip).or_default().push(b),
                BlockScope::Cidr(net) => snap.cidrs.push((*net, b)),
                BlockScope::Subject(s) => snap.by_subject.entry(s.clone()).or_default().push(b),
                BlockScope::ApiKey(k) => snap.by_api_key.entry(k.clone()).or_default().push(b),
            }
        }
        snap.all = all;
        snap
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockOrigin;

    fn new_block(scope: BlockScope, expires_ms: Option<u64>) -> NewBlock {
        NewBlock {
            scope,
            reason: "test".into(),
            origin: BlockOrigin::Manual,
            created_ms: 0,
            expires_ms,
            finding: None,
        }
    }

    fn keys<'a>(ip: &str, subject: Option<&'a str>) -> ClientKeys<'a> {
        ClientKeys {
            ip: ip.parse().unwrap(),
            subject,
            api_key_id: None,
        }
    }

    #[test]
    fn lookup_matches_each_scope() {
        let (table, mut w) = BlockTable::new();
        assert!(table.lookup(keys("10.0.0.1", None), 0).is_none());
        w.publish(new_block(BlockScope::Ip("10.0.0.1".parse().unwrap()), None));
        w.publish(new_block(
            BlockScope::Cidr("2001:db8::/64".parse().unwrap()),
            None,
        ));
        w.publish(new_block(BlockScope::Subject("mallory".into()), None));
        w.publish(new_block(BlockScope::ApiKey("k1".into()), None));
        assert!(table.lookup(keys("10.0.0.1", None), 0).is_some());
        assert!(table.lookup(keys("10.0.0.2", None), 0).is_none());
        assert!(table.lookup(keys("2001:db8::77", None), 0).is_some());
        assert!(table.lookup(keys("2001:db9::77", None), 0).is_none());
        assert!(table.lookup(keys("10.0.0.2", Some("mallory")), 0).is_some());
        let mut k = keys("10.0.0.2", None);
        k.api_key_id = Some("k1");
        assert!(table.lookup(k, 0).is_some());
    }

    #[test]
    fn expired_blocks_stop_matching_and_are_swept() {
        let (table, mut w) = BlockTable::new();
        let id = w.publish(new_block(
            BlockScope::Ip("10.0.0.1".parse().unwrap()),
            Some(1000),
        ));
        let k = keys("10.0.0.1", None);
        assert_eq!(table.lookup(k, 999).map(|b| b.id), Some(id));
        assert!(table.lookup(k, 1000).is_none());
        assert_eq!(table.list().len(), 1);
        let swept = w.sweep(1000);
        assert_eq!(swept.len(), 1);
        assert!(table.list().is_empty());
    }

    #[test]
    fn an_expired_block_does_not_hide_a_live_one_on_the_same_key() {
        let (table, mut w) = BlockTable::new();
        let ip = BlockScope::Ip("10.0.0.1".parse().unwrap());
        w.publish(new_block(ip.clone(), Some(10)));
        let live = w.publish(new_block(ip, None));
        assert_eq!(
            table.lookup(keys("10.0.0.1", None), 50).map(|b| b.id),
            Some(live)
        );
    }

    #[test]
    fn put_keeps_its_id_and_later_adds_number_after_it() {
        let (table, mut w) = BlockTable::new();
        let restored = new_block(BlockScope::Subject("s".into()), None).into_block(41);
        w.apply(vec![BlockChange::Put(restored)]);
        let next = w.publish(new_block(BlockScope::Subject("t".into()), None));
        assert_eq!(next, 42);
        assert_eq!(
            table.lookup(keys("10.0.0.1", Some("s")), 0).map(|b| b.id),
            Some(41)
        );
    }

    #[test]
    fn remove_unblocks() {
        let (table, mut w) = BlockTable::new();
        let id = w.publish(new_block(BlockScope::Subject("s".into()), None));
        assert!(w.remove(id).is_some());
        assert!(w.remove(id).is_none());
        assert!(table.lookup(keys("10.0.0.1", Some("s")), 0).is_none());
    }
}
