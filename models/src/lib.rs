//! The shared vocabulary of Palisade. Everything that crosses a crate boundary is a
//! type from here: the `RequestEvent` the proxy records, the client keys it
//! identifies, blocks and the lock-free block table, the tee (the bounded ring
//! between proxy and analytics), the injectable clock, and the config types.
//!
//! Must not depend on any other Palisade crate, and must not do I/O beyond reading
//! a config file.

pub mod allowlist;
pub mod block;
pub mod block_table;
pub mod client;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod endpoint;
pub mod event;
pub mod finding;
pub mod fleet;
pub mod live;
pub mod siem;
pub mod tally;
pub mod tee;

pub use allowlist::Allowlist;
pub use block::{Block, BlockId, BlockOrigin, BlockScope, NewBlock};
pub use block_table::{BlockTable, BlockWriter};
pub use client::ClientKeys;
pub use clock::{Clock, ManualClock, SharedClock, SystemClock, unix_ms, unix_us};
pub use config::Config;
pub use endpoint::EndpointInfo;
pub use event::{
    Denial, DenyCode, Login, LoginOutcome, ParamLocation, Phase, Protocol, RequestEvent,
    SchemaReport, SignatureMatch, UsernameHash, Violation, ViolationKind,
};
pub use finding::{Finding, FindingClient, FindingId, FindingKind, FindingRequest, Severity};
pub use fleet::FleetLinkStatus;
pub use live::{ClientName, ClientSummary, LATENCY_BUCKETS_US, LiveView};
pub use siem::{
    DELIVERY_BUCKETS_S, DeniedSummary, SiemCategory, SiemEvent, SiemRecord, SiemSource, SiemStatus,
    SinkStatus,
};
pub use tee::Tee;

/// The calling crate's directory, for test fixtures: read at run time (cargo
/// sets `CARGO_MANIFEST_DIR` when it runs tests and benches), falling back to
/// the value compiled in. Cargo reuses a test binary built by another checkout
/// that shares the build cache (CI's clone and a development tree both use
/// `$HOME/.cache/palisade-target`), and the compiled-in path is that checkout's.
/// A macro so that the fallback is the caller's crate, not this one.
#[macro_export]
macro_rules! crate_dir {
    () => {
        ::std::path::PathBuf::from(
            ::std::env::var("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
        )
    };
}
