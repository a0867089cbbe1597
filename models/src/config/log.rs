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

const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

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
        // The full filter syntax is checked by the binary with the logging crate;
        // this catches the common mistakes together with every other problem.
        let bad = self.level.split(',').map(str::trim).find(|d| {
            let level = d.rsplit('=').next().unwrap_or_default();
            let target = d.strip_suffix(level).map(|t| t.trim_end_matches('='));
            !LEVELS.contains(&level.to_ascii_lowercase().as_str())
                || target.is_some_and(|t| d.contains('=') && t.is_empty())
        });
        if let Some(d) = bad {
            p.push(
                "log.level",
                format!("`{d}` is not a level or a target=level directive"),
                "use error, warn, info, debug or trace, or directives like info,palisade_proxy=debug",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(level: &str) -> usize {
        let mut p = Problems::default();
        LogConfig {
            level: level.into(),
            ..LogConfig::default()
        }
        .validate(&mut p);
        p.into_vec().len()
    }

    #[test]
    fn levels_and_directives() {
        assert_eq!(problems("info"), 0);
        assert_eq!(problems("WARN,palisade_proxy=debug"), 0);
        assert_eq!(problems(""), 1);
        assert_eq!(problems("verbose"), 1);
        assert_eq!(problems("info,=="), 1);
        assert_eq!(problems("info,=debug"), 1);
    }
}
