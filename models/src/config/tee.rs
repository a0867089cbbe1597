//! Owns the `[tee]` section: the ring between the proxy and analytics.

use serde::Deserialize;

use super::Problems;

/// `[tee]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeeConfig {
    /// Events the ring holds (about 250 bytes each). When it is full, new events are
    /// dropped and counted, and requests never wait. Default: 65536.
    #[serde(default = "default_capacity")]
    pub capacity: usize,
}

fn default_capacity() -> usize {
    65_536
}

impl Default for TeeConfig {
    fn default() -> Self {
        Self {
            capacity: default_capacity(),
        }
    }
}

impl TeeConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        if !(1..=16 * 1024 * 1024).contains(&self.capacity) {
            p.push(
                "tee.capacity",
                format!("{} is outside 1..=16777216", self.capacity),
                "65536 absorbs about half a second at 100k requests/s",
            );
        }
    }
}
