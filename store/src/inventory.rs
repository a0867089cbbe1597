//! Owns the endpoint inventory and the baseline snapshots: the analytics worker's
//! state, written whole every few seconds in one transaction so that a restart
//! resumes from the last tick instead of learning from nothing.
//!
//! Snapshots are opaque bytes: their format belongs to the analytics crate. Must not
//! interpret them, and must not read the clock.

use std::collections::HashSet;
use std::path::Path;

use palisade_models::EndpointInfo;
use redb::{ReadableDatabase, ReadableTable};

use crate::Store;
use crate::error::{Context, StoreError};
use crate::schema::{ENDPOINTS, SNAPSHOTS, decode, encode};

/// The inventory stored in the file at `path`, read without opening the store
/// for writing (`palisade spec diff`). A store a running Palisade holds open
/// is refused as `Locked`.
pub fn read_inventory(path: &Path) -> Result<Vec<EndpointInfo>, StoreError> {
    const WHAT: &str = "reading the inventory";
    let db = redb::ReadOnlyDatabase::open(path).map_err(|e| StoreError::from_open(path, e))?;
    let txn = db.begin_read().context(WHAT)?;
    let table = match txn.open_table(ENDPOINTS) {
        Ok(t) => t,
        // A store that never persisted an inventory.
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e).context(WHAT),
    };
    let mut out = Vec::new();
    for entry in table.iter().context(WHAT)? {
        let (_, v) = entry.context(WHAT)?;
        out.push(decode(v.value(), "an endpoint")?);
    }
    Ok(out)
}

impl Store {
    /// In one transaction: makes the stored inventory exactly `endpoints` (keyed by
    /// `"METHOD template"`; endpoints no longer listed are deleted) and stores each
    /// snapshot under its name, replacing an older one. Snapshots not named are kept.
    pub fn put_inventory(
        &self,
        endpoints: &[EndpointInfo],
        snapshots: &[(&str, &[u8])],
    ) -> Result<(), StoreError> {
        let r = self.put_inventory_inner(endpoints, snapshots);
        if r.is_err() {
            self.not_persisted((endpoints.len() + snapshots.len()) as u64);
        }
        self.adding(r)
    }

    fn put_inventory_inner(
        &self,
        endpoints: &[EndpointInfo],
        snapshots: &[(&str, &[u8])],
    ) -> Result<(), StoreError> {
        const WHAT: &str = "writing the inventory";
        let mut added = 0u64;
        let named: Vec<(String, &EndpointInfo)> = endpoints.iter().map(|e| (e.name(), e)).collect();
        let keep: HashSet<&str> = named.iter().map(|(k, _)| k.as_str()).collect();
        let txn = self.begin_write(WHAT)?;
        {
            let mut table = txn.open_table(ENDPOINTS).context(WHAT)?;
            table.retain(|k, _| keep.contains(k)).context(WHAT)?;
            for (key, e) in &named {
                let bytes = encode(e, "an endpoint")?;
                added += bytes.len() as u64;
                table.insert(key.as_str(), bytes.as_slice()).context(WHAT)?;
            }
            let mut snaps = txn.open_table(SNAPSHOTS).context(WHAT)?;
            for (name, bytes) in snapshots {
                added += bytes.len() as u64;
                snaps.insert(*name, *bytes).context(WHAT)?;
            }
        }
        self.admit(&txn, added)?;
        self.commit(txn, WHAT)
    }

    /// The stored inventory, by `"METHOD template"`.
    pub fn endpoints(&self) -> Result<Vec<EndpointInfo>, StoreError> {
        const WHAT: &str = "reading the inventory";
        let txn = self.begin_read(WHAT)?;
        let table = txn.open_table(ENDPOINTS).context(WHAT)?;
        let mut out = Vec::new();
        for entry in table.iter().context(WHAT)? {
            let (_, v) = entry.context(WHAT)?;
            out.push(decode(v.value(), "an endpoint")?);
        }
        Ok(out)
    }

    /// Stores one snapshot under `name`, replacing an older one, in its own
    /// transaction (the batch jobs' client model; the inventory is untouched).
    pub fn put_snapshot(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        const WHAT: &str = "writing a snapshot";
        let txn = self.begin_write(WHAT)?;
        txn.open_table(SNAPSHOTS)
            .context(WHAT)?
            .insert(name, bytes)
            .context(WHAT)?;
        self.commit(txn, WHAT)
    }

    /// The snapshot stored under `name`.
    pub fn snapshot(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        const WHAT: &str = "reading a snapshot";
        let txn = self.begin_read(WHAT)?;
        let table = txn.open_table(SNAPSHOTS).context(WHAT)?;
        Ok(table.get(name).context(WHAT)?.map(|v| v.value().to_vec()))
    }
}
