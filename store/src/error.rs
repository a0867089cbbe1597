//! Owns `StoreError`, the one error type of the store, and the translation of redb's
//! errors into it: at open, into what an operator can act on (locked, corrupt, newer
//! schema, I/O); afterwards, into `Db` with what the store was doing.
//!
//! Must not decide policy (retry, give up): callers do.

use std::path::{Path, PathBuf};

use redb::{DatabaseError, StorageError};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (or another `Store` in this one) has the file open.
    #[error(
        "the store {} is in use by another Palisade process: each Palisade instance needs its own data directory; stop the other process or give this one another directory",
        .path.display()
    )]
    Locked { path: PathBuf },

    /// The file is not a readable store.
    #[error(
        "the store {} is corrupt ({detail}); move the file aside (keep it for a bug report) and start again to create an empty store, or restore a backup",
        .path.display()
    )]
    Corrupt { path: PathBuf, detail: String },

    /// The file was written by a newer Palisade, whose records this build could
    /// misread.
    #[error(
        "the store {} was written by a newer Palisade (schema version {found}; this build reads up to {supported}); run that newer version, or restore a backup taken before the upgrade",
        .path.display()
    )]
    NewerSchema {
        path: PathBuf,
        found: u64,
        supported: u64,
    },

    /// The file or its directory could not be created, opened, read or written.
    #[error("the store {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A write that adds records would take the store past its quota.
    #[error(
        "the store {} reached its quota of {max_bytes} bytes (store.max_bytes): new findings are kept in memory only and other new records are not written; raise store.max_bytes (takes a restart), shorten store.retention or lower store.max_findings, or free disk space",
        .path.display()
    )]
    Full { path: PathBuf, max_bytes: u64 },

    /// Any other redb error, with what the store was doing.
    #[error("store: {0}")]
    Db(String),

    /// A record could not be encoded, or a stored record could not be decoded.
    #[error("store record: {0}")]
    Encode(String),
}

impl StoreError {
    /// Classifies an error of `redb::Builder::create` for the operator.
    pub(crate) fn from_open(path: &Path, err: DatabaseError) -> Self {
        let path = path.to_path_buf();
        match err {
            DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
                StoreError::Locked { path }
            }
            DatabaseError::Storage(StorageError::Corrupted(detail)) => {
                StoreError::Corrupt { path, detail }
            }
            // redb reports a file that is not a database (no magic number, shorter
            // than a header) as invalid data read from the file, not as a failing disk.
            DatabaseError::Storage(StorageError::Io(source))
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
                ) =>
            {
                StoreError::Corrupt {
                    path,
                    detail: source.to_string(),
                }
            }
            DatabaseError::Storage(StorageError::Io(source)) => StoreError::Io { path, source },
            DatabaseError::UpgradeRequired(version) => StoreError::Corrupt {
                path,
                detail: format!("redb file format {version}, which this build cannot read"),
            },
            other => StoreError::Db(format!("opening {}: {other}", path.display())),
        }
    }
}

/// Attaches what the store was doing to a redb error.
pub(crate) trait Context<T> {
    fn context(self, what: &str) -> Result<T, StoreError>;
}

impl<T, E: Into<redb::Error>> Context<T> for Result<T, E> {
    fn context(self, what: &str) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::Db(format!("{what}: {}", e.into())))
    }
}
