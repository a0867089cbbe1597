//! Owns what Palisade tells a SIEM: `SiemEvent` (a finding, a block, an unblock or a
//! summary of denied requests) and `SiemRecord`, the event as the store's outbox
//! keeps it, with the stable id receivers deduplicate on.
//!
//! Must never carry a secret: a finding's evidence and a block's reason are already
//! free of tokens, credentials and bodies, and nothing else is added here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Block, Finding};

/// One fact for the SIEM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SiemEvent {
    /// The analytics worker concluded something.
    Finding { finding: Finding },
    /// A block was created (by analytics, an operator, the config or the fleet).
    Block {
        block: Block,
        /// `"analytics"`, `"admin[:name]@peer"`, ...
        actor: Box<str>,
    },
    /// A block was removed by an operator or expired.
    Unblock {
        block: Block,
        actor: Box<str>,
        /// The operator's reason, or "expired".
        reason: Box<str>,
        /// True when the sweeper removed it at its expiry.
        expired: bool,
    },
    /// Requests the proxy refused over one interval, counted by reason.
    Denied(DeniedSummary),
}

/// The requests the proxy denied over `[window_start_ms, window_end_ms)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeniedSummary {
    pub window_start_ms: u64,
    pub window_end_ms: u64,
    pub total: u64,
    /// By deny code (`blocked`, `unauthenticated`, `rate_limited`, ...).
    pub by_reason: BTreeMap<String, u64>,
}

/// What a `SiemEvent` is about, for choosing what a sink forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SiemCategory {
    Findings,
    Blocks,
    Unblocks,
    Denied,
}

impl SiemCategory {
    pub const ALL: [SiemCategory; 4] = [
        SiemCategory::Findings,
        SiemCategory::Blocks,
        SiemCategory::Unblocks,
        SiemCategory::Denied,
    ];

    /// The bit of this category in a `u8` mask.
    pub fn bit(self) -> u8 {
        1 << self as u8
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SiemCategory::Findings => "findings",
            SiemCategory::Blocks => "blocks",
            SiemCategory::Unblocks => "unblocks",
            SiemCategory::Denied => "denied",
        }
    }
}

impl std::str::FromStr for SiemCategory {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SiemCategory::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                format!("unknown category `{s}`; one of findings, blocks, unblocks, denied")
            })
    }
}

impl SiemEvent {
    pub fn category(&self) -> SiemCategory {
        match self {
            SiemEvent::Finding { .. } => SiemCategory::Findings,
            SiemEvent::Block { .. } => SiemCategory::Blocks,
            SiemEvent::Unblock { .. } => SiemCategory::Unblocks,
            SiemEvent::Denied(_) => SiemCategory::Denied,
        }
    }
}

/// A `SiemEvent` as the outbox holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiemRecord {
    /// Position in the outbox: increases with every record, never reused.
    pub seq: u64,
    /// Stable across retries and restarts and unique across sidecars
    /// (`<store instance>-<seq>`): what a receiver deduplicates on.
    pub id: Box<str>,
    /// When the record entered the outbox, in milliseconds since the Unix epoch.
    pub created_ms: u64,
    pub event: SiemEvent,
}

/// Who sends: the fields every format names its source with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiemSource {
    /// This host's name, as syslog's HOSTNAME and the observer's name.
    pub hostname: Box<str>,
    /// "palisade".
    pub product: Box<str>,
    /// The crate version.
    pub version: Box<str>,
}

/// Upper bounds, in seconds, of the delivery-latency buckets (time from a record
/// entering the outbox to its receiver accepting it); one more bucket holds the rest.
pub const DELIVERY_BUCKETS_S: [f64; 12] = [
    0.005, 0.025, 0.1, 0.25, 1.0, 2.5, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

/// One sink as operators see it (API, dashboard, metrics). Never holds a secret:
/// `target` is the address, or the URL without credentials or query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SinkStatus {
    pub name: Box<str>,
    /// "syslog", "splunk_hec" or "http".
    pub kind: Box<str>,
    pub target: Box<str>,
    /// Records after its cursor.
    pub depth: u64,
    /// When the oldest waiting record was queued (ms since the Unix epoch).
    pub oldest_ms: Option<u64>,
    pub delivered: u64,
    /// Failed attempts (each retried after a backoff).
    pub retries: u64,
    pub dead_letters: u64,
    /// True unless the last attempt failed.
    pub healthy: bool,
    pub last_error: Option<Box<str>>,
    pub last_delivery_ms: Option<u64>,
    /// Delivery latencies counted per `DELIVERY_BUCKETS_S` bucket (not cumulative;
    /// one more entry for the overflow), and their sum in milliseconds.
    pub latency_counts: Vec<u64>,
    pub latency_sum_ms: u64,
}

/// The forwarding side as a whole.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SiemStatus {
    pub sinks: Vec<SinkStatus>,
    /// Records held, over all sinks.
    pub outbox_len: u64,
    pub outbox_max: u64,
    /// Records dropped or refused because the outbox was full, since start.
    pub outbox_dropped: u64,
    /// "drop_oldest" or "refuse_new".
    pub when_full: Box<str>,
}
