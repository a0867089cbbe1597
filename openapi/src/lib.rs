//! Palisade's OpenAPI support: a service's OpenAPI 3.0 or 3.1 document read into
//! operations (method, path template, parameters, body, security), each with a
//! request validator compiled once at load, and the drift between the spec and
//! the endpoint inventory traffic built.
//!
//! Must not do I/O beyond reading the spec file, and must not allocate on the
//! path of a request that breaks nothing.

mod body;
mod drift;
mod load;
mod params;
mod report;
mod schema;
mod spec;

use std::fmt;
use std::path::{Path, PathBuf};

pub use body::BodyInput;
pub use drift::{Drift, DriftEntry, DriftStatus, UnusedOperation, drift};
pub use load::Version;
pub use report::Report;
pub use spec::{Operation, Security, Spec, SpecOptions};

/// Everything that makes a spec unusable. Each says where, and how to fix it.
/// (Display by hand: the location reads differently per variant.)
#[derive(Debug)]
pub enum OpenApiError {
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    Invalid {
        path: PathBuf,
        /// The key path in the document, such as `paths./users/{id}.get.parameters.0`.
        at: String,
        line: Option<usize>,
        message: String,
        hint: &'static str,
    },
}

impl fmt::Display for OpenApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenApiError::Read { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            OpenApiError::Syntax {
                path,
                line,
                column,
                message,
            } => write!(
                f,
                "{}: not valid YAML or JSON at line {line}, column {column}: {message}",
                path.display()
            ),
            OpenApiError::Invalid {
                path,
                at,
                line,
                message,
                ..
            } => {
                write!(f, "{}", path.display())?;
                if let Some(l) = line {
                    write!(f, " line {l}")?;
                }
                if !at.is_empty() {
                    write!(f, " at {at}")?;
                }
                write!(f, ": {message}")
            }
        }
    }
}

impl std::error::Error for OpenApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenApiError::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl OpenApiError {
    pub(crate) fn invalid(
        path: &Path,
        at: &str,
        line: Option<usize>,
        message: String,
        hint: &'static str,
    ) -> OpenApiError {
        OpenApiError::Invalid {
            path: path.to_path_buf(),
            at: at.to_string(),
            line,
            message,
            hint,
        }
    }

    /// What the operator should do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            OpenApiError::Read { .. } => {
                "point openapi.spec at an existing, readable file (YAML or JSON)"
            }
            OpenApiError::Syntax { .. } => {
                "fix the syntax at that line; the running spec stays in force until then"
            }
            OpenApiError::Invalid { hint, .. } => hint,
        }
    }

    /// The line the problem is on, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            OpenApiError::Read { .. } => None,
            OpenApiError::Syntax { line, .. } => Some(*line),
            OpenApiError::Invalid { line, .. } => *line,
        }
    }
}
