//! The admin surface: a listener separate from the proxy (127.0.0.1 by default,
//! bearer-token protected) serving the JSON API, the embedded web UI, the SSE live
//! feed, `/metrics`, `/healthz` and `/readyz` (DESIGN.md, "Admin surface").
//!
//! Filled by the dashboard issue. Must never expose a secret, and must never be
//! reachable through the proxy's listeners.

/// Errors of the admin server.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// The admin server is not available in this build yet.
    #[error("the admin server is not implemented yet")]
    Unavailable,
}
