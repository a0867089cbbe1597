//! Forwarders of findings, blocks and unblocks to SIEMs (CEF over syslog, Splunk
//! HEC, OCSF / ECS JSON over HTTP) through the store's durable outbox.
//!
//! Filled by the SIEM issue. Must never forward a secret, and must never drop a
//! record the outbox holds.

/// Errors of the SIEM forwarders.
#[derive(Debug, thiserror::Error)]
pub enum SiemError {
    /// No forwarder is available in this build yet.
    #[error("SIEM forwarding is not implemented yet")]
    Unavailable,
}
