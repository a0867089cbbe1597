//! Owns the endpoint inventory and the baseline snapshots: the analytics worker's
//! state, written whole every few seconds in one transaction so that a restart
//! resumes from the last tick instead of learning from nothing.
//!
//! Snapshots are opaque bytes: their format belongs to the analytics crate. Must not
//! interpret them, and must not read the clock.

use std::collections::HashSet;

use palisade_models::EndpointInfo;
use redb::ReadableTable;

use crate::Store;
use crate::error::{Context, StoreError};
use crate::schema::{ENDPOINTS, SNAPSHOTS, decode, encode};

impl Store {
    /// In one transaction: makes the stored inventory exactly `endpoints` (keyed by
    /// `"METHOD template"`; endpoints no longer listed are deleted) and stores each
    /// snapshot under its name, replacing an older one. Snapshots not named are kept.
    pub fn put_inventory(
        &self,
        endpoints: &[EndpointInfo],
        snapshots: &[(&str, &[u8])],
    ) -> Result<(), StoreError> {
        const WHAT: &str = "writing the inventory";
        let named: Vec<(String, &EndpointInfo)> = endpoints.iter().map(|e| (e.name(), e)).collect();
        let keep: HashSet<&str> = named.iter().map(|(k, _)| k.as_str()).collect();
        let txn = self.begin_write(WHAT)?;
        {
            let mut table = txn.open_table(ENDPOINTS).context(WHAT)?;
            table.retain(|k, _| keep.contains(k)).context(WHAT)?;
            for (key, e) in &named {
                table
                    .insert(key.as_str(), encode(e, "an endpoint")?.as_slice())
                    .context(WHAT)?;
            }
            let mut snaps = txn.open_table(SNAPSHOTS).context(WHAT)?;
            for (name, bytes) in snapshots {
                snaps.insert(*name, *bytes).context(WHAT)?;
            }
        }
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
