//! Owns `ProxyError`: the proxy's real failures (cannot bind, bad TLS material,
//! cannot start a worker). Denials are not errors; they are `Flow::Deny` values.

use std::net::SocketAddr;

/// Errors that stop the proxy from starting.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source} (is another process using the port?)")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// TLS material is missing or unusable; `key` is the config key to fix.
    #[error("{key}: {message}")]
    Tls { key: &'static str, message: String },
    /// A validated config value could not be turned into its runtime form.
    #[error("{key}: {message}")]
    Config { key: &'static str, message: String },
    /// JWT key material is missing or unusable; `key` is the config key to fix,
    /// such as `auth.jwt.key[2].pem_file`.
    #[error("{key}: {message}")]
    Jwt { key: String, message: String },
    /// The OpenAPI spec, or the config's policy for its operations, is unusable;
    /// `key` is the config key to fix (`openapi.spec`, `route[2].operation_id`).
    #[error("{key}: {message}")]
    OpenApi {
        key: String,
        message: String,
        hint: &'static str,
    },
    /// A worker thread or its runtime could not be started.
    #[error("cannot start a proxy worker: {0}")]
    Worker(#[source] std::io::Error),
}
