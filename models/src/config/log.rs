//! Owns the `[log]` section.

use serde::Deserialize;

use super::Problems;

/// `[log]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// "json" (one object per line), "pretty" (for a terminal), or "auto": pretty
    /// when stderr is a terminal, JSON otherwise. Default: "auto".
    #[serde(default)]
    pub format: LogFormat,
    /// Level or filter directives, e.g. "info" or "info,palisade_proxy=debug".
    /// The RUST_LOG environment variable overrides it. Default: "info".
    #[serde(default = "default_level")]
    pub level: String,
    /// One line per exchange (target `palisade::access`): method, path without
    /// query values, status, latency, client address, request id. Never headers or
    /// bodies. Default: false.
    #[serde(default)]
    pub access_log: bool,
}

/// Log output format.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Auto,
    Json,
    Pretty,
}

fn default_level() -> String {
    "info".into()
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Auto,
            level: default_level(),
            access_log: false,
        }
    }
}

impl LogConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        if self.level.trim().is_empty() {
            p.push(
                "log.level",
                "the level is empty",
                "use error, warn, info, debug or trace",
            );
        }
    }
}
