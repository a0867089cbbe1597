//! Owns log output: tracing-subscriber to stderr, JSON or human-readable per
//! `[log]`, level from `log.level` unless RUST_LOG is set. Must never be handed a
//! secret: callers log identifiers, not credentials.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use palisade_models::config::{LogConfig, LogFormat};

/// Checks `log.level` the way `init` will use it.
pub fn check_level(level: &str) -> Result<(), String> {
    EnvFilter::try_new(level)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Installs the global subscriber. Call once, early.
pub fn init(cfg: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cfg.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match cfg.format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // try_init: a second call (tests running several instances) keeps the first.
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
