//! Durable state in redb: blocks and their audit trail, findings, the endpoint
//! inventory and baseline snapshots, surviving kill -9 (DESIGN.md, "Durability").
//! This file owns `Store` itself: opening the file (locking, corruption, schema
//! version) and the transaction helpers; each kind of record has its own module.
//!
//! Every write commits with `Durability::Immediate` before the method returns, so
//! what a caller was told is stored survives a crash. Every method blocks on disk
//! I/O: async callers use `spawn_blocking`. Must not be touched from the proxy's
//! request path, and must not read the clock: callers pass the time.

mod blocks;
mod error;
mod findings;
mod inventory;
mod outbox;
mod quota;
mod retention;
mod schema;

use std::fmt;
use std::path::{Path, PathBuf};

use redb::{Database, Durability, ReadTransaction, ReadableDatabase, WriteTransaction};

pub use blocks::{AuditAction, AuditInfo, AuditRecord};
pub use error::StoreError;
pub use findings::{FindingFilter, FindingPage, MAX_PAGE, PageRequest};
pub use inventory::read_inventory;
pub use outbox::{DeadLetter, MAX_DEAD_LETTERS, OutboxBatch, OutboxPolicy, SinkDepth, Waker};
pub use quota::{MAX_MEMORY_FINDINGS, Saved, StoreHealth};
pub use retention::Retention;
pub use schema::SCHEMA_VERSION;

use error::Context;

/// redb's page cache. Its default (1 GiB) suits a database server, not a sidecar;
/// the records are small and mostly written, so a modest cache keeps reads of recent
/// findings in memory without letting the store grow the process.
const CACHE_BYTES: usize = 32 * 1024 * 1024;

/// The store: one redb file, shared as `Arc<Store>`. redb serialises write
/// transactions itself and readers never wait for writers, so no lock of ours.
pub struct Store {
    db: Database,
    path: PathBuf,
    outbox: outbox::OutboxState,
    quota: quota::QuotaState,
}

impl Store {
    /// Opens or creates the database file (and its parent directory), checks the
    /// schema version and migrates an older file.
    ///
    /// Every page of the file is checksum-verified on open: it costs a read of the
    /// whole file (bounded by retention), and in exchange a file damaged outside
    /// redb is reported as `Corrupt` instead of being trusted.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .set_check_integrity_on_open(true)
            .create(path)
            .map_err(|e| StoreError::from_open(path, e))?;
        let store = Store {
            db,
            path: path.to_path_buf(),
            outbox: outbox::OutboxState::new(),
            quota: quota::QuotaState::new(),
        };
        let txn = store.begin_write("migrating the schema")?;
        schema::migrate(&txn, path)?;
        store.commit(txn, "migrating the schema")?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn begin_read(&self, what: &str) -> Result<ReadTransaction, StoreError> {
        self.db.begin_read().context(what)
    }

    /// A write transaction that is on disk when `commit` returns. `Immediate` is
    /// redb's default; it is set here so that no later default can weaken it.
    fn begin_write(&self, what: &str) -> Result<WriteTransaction, StoreError> {
        let mut txn = self.db.begin_write().context(what)?;
        txn.set_durability(Durability::Immediate).context(what)?;
        Ok(txn)
    }

    fn commit(&self, txn: WriteTransaction, what: &str) -> Result<(), StoreError> {
        txn.commit().context(what)
    }

    /// Ends a write transaction that changed nothing, sparing the fsync of a commit.
    fn abort(&self, txn: WriteTransaction, what: &str) -> Result<(), StoreError> {
        txn.abort().context(what)
    }
}

// `Arc<Store>` is shared across threads and tasks.
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<Store>();
};

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}
