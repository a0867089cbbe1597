//! Owns the on-disk layout: the table names and key types, the JSON encoding of
//! values, the persistent sequences, the schema version and the migrations that
//! bring an older file up to it.
//!
//! A table's name and types never change once released: a new layout is a new
//! table plus a migration step. Must not hold policy (what to keep, when to expire).

use std::path::Path;

use redb::{ReadableTable, Table, TableDefinition, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Context, StoreError};

/// The layout this build writes. Bump it only together with a new entry in
/// `MIGRATIONS`.
pub const SCHEMA_VERSION: u64 = 2;

/// Holds only `"version"`; its name and types are the same in every version, so any
/// build can tell whether it may read the file.
pub(crate) const SCHEMA: TableDefinition<&str, u64> = TableDefinition::new("schema");
const VERSION_KEY: &str = "version";

/// The next value of each persistent sequence, by name: ids are never reused, even
/// when the newest record has been deleted.
pub(crate) const SEQUENCES: TableDefinition<&str, u64> = TableDefinition::new("sequences");
pub(crate) const BLOCK_SEQ: &str = "block_id";
pub(crate) const AUDIT_SEQ: &str = "audit_seq";

/// `Block` as JSON, by id.
pub(crate) const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
/// `AuditRecord` as JSON, by sequence number (oldest first).
pub(crate) const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
/// `Finding` as JSON, by `FindingId` (a UUIDv7, so key order is time order).
pub(crate) const FINDINGS: TableDefinition<u128, &[u8]> = TableDefinition::new("findings");
/// `EndpointInfo` as JSON, by `"METHOD template"`.
pub(crate) const ENDPOINTS: TableDefinition<&str, &[u8]> = TableDefinition::new("endpoints");
/// Opaque bytes (baseline snapshots) by name.
pub(crate) const SNAPSHOTS: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshots");
/// `SiemRecord` as JSON, by outbox sequence number (oldest first). (v2)
pub(crate) const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
/// Each sink's cursor: the last sequence number it is done with. (v2)
pub(crate) const OUTBOX_CURSORS: TableDefinition<&str, u64> =
    TableDefinition::new("outbox_cursors");
/// The outbox's head sequence, the dead-letter sequence and this store's random
/// instance number (the first half of every record id). (v2)
pub(crate) const OUTBOX_META: TableDefinition<&str, u64> = TableDefinition::new("outbox_meta");
/// `DeadLetter` as JSON, by dead-letter sequence number. (v2)
pub(crate) const DEAD_LETTERS: TableDefinition<u64, &[u8]> = TableDefinition::new("dead_letters");

/// One step from the version before `to` up to `to`. A new file is at version 0 and
/// runs every step, so creation is the first migration.
struct Migration {
    to: u64,
    run: fn(&WriteTransaction) -> Result<(), StoreError>,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        to: 1,
        run: create_v1,
    },
    Migration {
        to: 2,
        run: create_v2,
    },
];

// Checked when the crate compiles: the steps are consecutive and end at SCHEMA_VERSION.
const _: () = {
    let mut i = 0;
    while i < MIGRATIONS.len() {
        assert!(MIGRATIONS[i].to == i as u64 + 1);
        i += 1;
    }
    assert!(MIGRATIONS.len() as u64 == SCHEMA_VERSION);
};

/// Brings the file to `SCHEMA_VERSION` inside `txn`, or refuses one from a newer build.
/// The caller commits; on error nothing is written.
pub(crate) fn migrate(txn: &WriteTransaction, path: &Path) -> Result<(), StoreError> {
    let found = {
        let table = txn.open_table(SCHEMA).context("opening the schema table")?;
        table
            .get(VERSION_KEY)
            .context("reading the schema version")?
            .map_or(0, |v| v.value())
    };
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for step in MIGRATIONS.iter().filter(|m| m.to > found) {
        (step.run)(txn)?;
        txn.open_table(SCHEMA)
            .context("opening the schema table")?
            .insert(VERSION_KEY, step.to)
            .context("writing the schema version")?;
    }
    Ok(())
}

/// Version 1: creates every table, so readers never meet a missing one.
fn create_v1(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(SEQUENCES).context("creating sequences")?;
    txn.open_table(BLOCKS).context("creating blocks")?;
    txn.open_table(AUDIT).context("creating audit")?;
    txn.open_table(FINDINGS).context("creating findings")?;
    txn.open_table(ENDPOINTS).context("creating endpoints")?;
    txn.open_table(SNAPSHOTS).context("creating snapshots")?;
    Ok(())
}

/// Version 2: the SIEM outbox, its cursors and dead letters, and the store's
/// instance number, drawn from the OS so that record ids differ between sidecars.
fn create_v2(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(OUTBOX).context("creating outbox")?;
    txn.open_table(OUTBOX_CURSORS)
        .context("creating outbox_cursors")?;
    txn.open_table(DEAD_LETTERS)
        .context("creating dead_letters")?;
    let mut meta = txn
        .open_table(OUTBOX_META)
        .context("creating outbox_meta")?;
    // 48 bits: the id stays short, and collisions among a fleet's stores are
    // negligible.
    let instance = getrandom::u64()
        .map_err(|e| StoreError::Db(format!("drawing the store's instance number: {e}")))?
        & 0xFFFF_FFFF_FFFF;
    meta.insert(crate::outbox::INSTANCE, instance)
        .context("writing the store's instance number")?;
    Ok(())
}

/// Takes the next value of sequence `name` (starting at 1).
pub(crate) fn next_seq(table: &mut Table<&str, u64>, name: &str) -> Result<u64, StoreError> {
    let next = table
        .get(name)
        .context("reading a sequence")?
        .map_or(1, |v| v.value());
    table
        .insert(name, next + 1)
        .context("advancing a sequence")?;
    Ok(next)
}

pub(crate) fn encode<T: Serialize>(value: &T, what: &str) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Encode(format!("encoding {what}: {e}")))
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Encode(format!("decoding {what}: {e}")))
}
