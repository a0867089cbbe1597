//! Owns the `[[blocks]]` entries: static blocks from the config file.

use serde::Deserialize;

use super::Problems;
use super::value::Parsed;
use crate::block::BlockScope;

/// `[[blocks]]`: a block enforced from start-up.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticBlock {
    /// "ip", "cidr", "subject" (JWT subject) or "api_key" (API key id). Required.
    pub scope: String,
    /// The address, network, subject or key id. Required.
    pub value: String,
    /// Why; shown to operators, never to the client. Default: "static block".
    #[serde(default = "default_reason")]
    pub reason: String,
    /// How long after start-up the block lasts. Default: for ever.
    #[serde(default)]
    pub ttl: Option<Parsed<humantime::Duration>>,
}

fn default_reason() -> String {
    "static block".into()
}

impl StaticBlock {
    /// The scope this entry blocks. Valid once the config is validated.
    pub fn scope(&self) -> Result<BlockScope, String> {
        BlockScope::parse(&self.scope, self.value.trim())
    }

    pub(crate) fn validate(&self, key: &str, p: &mut Problems) {
        if let Err(e) = self.scope() {
            let field = if matches!(self.scope.as_str(), "ip" | "cidr" | "subject" | "api_key") {
                "value"
            } else {
                "scope"
            };
            p.push(
                format!("{key}.{field}"),
                e,
                "scope is one of ip, cidr, subject, api_key; value an address, a CIDR or an id",
            );
        }
        if let Some(ttl) = &self.ttl {
            ttl.check(
                format!("{key}.ttl"),
                "write a duration such as 1h or 7d, or remove ttl for a permanent block",
                p,
            );
        }
    }
}
