//! Owns the names of the fleet's Redis keys and channels, all under
//! `palisade:{service}:` so one Redis can serve several services.

use palisade_models::BlockScope;

/// Key and channel names for one service.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(service: &str) -> Self {
        Self {
            prefix: format!("palisade:{service}:"),
        }
    }

    pub fn service(&self) -> &str {
        self.prefix
            .trim_start_matches("palisade:")
            .trim_end_matches(':')
    }

    /// A block in force: its JSON, expiring with it.
    pub fn block(&self, scope: &BlockScope) -> String {
        format!("{}block:{scope}", self.prefix)
    }

    /// What `SCAN MATCH` finds every block by.
    pub fn block_pattern(&self) -> String {
        format!("{}block:*", self.prefix)
    }

    /// When a scope was last lifted (ms since the epoch): a block made before it
    /// is not put back by a sidecar that did not hear of the lift.
    pub fn lifted(&self, scope: &BlockScope) -> String {
        format!("{}lifted:{scope}", self.prefix)
    }

    /// A shared rate-limit bucket (its theoretical arrival time).
    pub fn limit(&self, bucket: &str) -> String {
        format!("{}limit:{bucket}", self.prefix)
    }

    /// A fleet-wide detection counter of counter window `window`.
    pub fn tally(&self, window: u64, name: &str) -> String {
        format!("{}t:{window}:{name}", self.prefix)
    }

    /// A claim on reporting one fleet-wide finding.
    pub fn claim(&self, key: &str) -> String {
        format!("{}claim:{key}", self.prefix)
    }

    /// Where block changes are announced.
    pub fn block_channel(&self) -> String {
        format!("{}blocks", self.prefix)
    }
}
