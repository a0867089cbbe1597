//! Durable state in redb: blocks, findings, the endpoint inventory, baseline
//! snapshots and the SIEM outbox, surviving kill -9 (DESIGN.md, "Durability").
//!
//! Filled by the analytics issue; until then it only defines its error type so the
//! crates above it can already speak of store failures. Must not be touched from the
//! proxy's request path.

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store is not available in this build yet.
    #[error("the store is not implemented yet")]
    Unavailable,
}
