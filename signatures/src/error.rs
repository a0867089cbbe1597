//! The crate's one error type. Every rule error names the rule (or the file
//! position when the TOML itself is broken) and what to fix.
//!
//! Must not be used for detections: an attack is a [`crate::Verdict`], not an
//! error.

use std::path::PathBuf;

/// What went wrong building an engine or reading a corpus.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// The rule file is not valid TOML or does not have the rule shape.
    #[error("rule file {source_name}: {message}")]
    RuleFile {
        /// `bundled` or the operator's file name.
        source_name: String,
        /// The TOML parser's message (with line and column).
        message: String,
    },
    /// One rule is invalid.
    #[error("rule {id:?} ({source_name}): {message}")]
    Rule {
        /// The rule's id (empty when the id itself is missing or malformed).
        id: String,
        /// `bundled` or the operator's file name.
        source_name: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// An engine option is out of range.
    #[error("signatures option {key}: {message}")]
    Option {
        /// The option's name (`paranoia`, `threshold`, ...).
        key: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A disabled rule id names no rule: usually a typo that would leave the
    /// rule the operator meant to disable running.
    #[error("disabled rule {0:?} does not exist")]
    UnknownDisabled(String),
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A corpus line is not valid.
    #[error("{path}:{line}: {message}")]
    Corpus {
        /// The corpus file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}
