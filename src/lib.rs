//! The `palisade` binary's library: the CLI, config loading, logging, and the
//! wiring that connects the proxy, the tee, the block table, the analytics
//! worker and the admin listener into one running sidecar. Kept as a library so the end-to-end tests run
//! exactly this wiring in-process.
//!
//! Must not contain request-path or analytics logic: those belong to their crates.

pub mod admin;
pub mod app;
mod batch;
pub mod cli;
pub mod demo;
mod fleet;
pub mod logging;
mod rules;
mod siem;
mod sink;
mod spec;

pub use app::{Palisade, PalisadeBuilder};
