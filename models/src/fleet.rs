//! Owns what a sidecar reports about its fleet link: the fleet crate fills it in,
//! the admin API and `/metrics` show it. Holds no address and no password.

use serde::Serialize;

/// The fleet link's health and counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FleetLinkStatus {
    /// `fleet.enabled`; false: every other field is empty.
    pub enabled: bool,
    pub service: String,
    /// This sidecar's name in the fleet.
    pub instance: String,
    /// Redis answers now.
    pub up: bool,
    /// This sidecar synchronised with the fleet at least once since it started.
    pub joined: bool,
    /// Times the link went down after being up.
    pub reconnects: u64,
    /// Full reconciliations with the fleet's keys (one per connection, at least).
    pub resyncs: u64,
    pub blocks_sent: u64,
    pub blocks_received: u64,
    pub lifts_sent: u64,
    pub lifts_received: u64,
    /// Why the link last failed, if it did.
    pub last_error: Option<String>,
}
