//! Owns the `Block` type: who is blocked (scope), why, by whom (origin), and until
//! when. The table that the proxy reads lives in `block_table`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::finding::FindingId;

/// A block's identifier, unique within one block table.
pub type BlockId = u64;

/// What a block matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BlockScope {
    /// One client address.
    Ip(IpAddr),
    /// A network (for IPv6 clients rotating through a /64, say).
    Cidr(IpNet),
    /// A verified JWT subject.
    Subject(Box<str>),
    /// A verified API key id.
    ApiKey(Box<str>),
}

impl BlockScope {
    /// The scope's kind as it is written in config and the API.
    pub fn kind(&self) -> &'static str {
        match self {
            BlockScope::Ip(_) => "ip",
            BlockScope::Cidr(_) => "cidr",
            BlockScope::Subject(_) => "subject",
            BlockScope::ApiKey(_) => "api_key",
        }
    }

    /// Builds a scope from its kind and value as written in config or the API.
    pub fn parse(kind: &str, value: &str) -> Result<Self, String> {
        match kind {
            "ip" => IpAddr::from_str(value)
                .map(BlockScope::Ip)
                .map_err(|_| format!("`{value}` is not an IP address")),
            "cidr" => IpNet::from_str(value)
                .map(|n| BlockScope::Cidr(n.trunc()))
                .map_err(|_| format!("`{value}` is not a network in CIDR form")),
            "subject" | "api_key" if value.is_empty() => Err("the value is empty".to_string()),
            "subject" => Ok(BlockScope::Subject(value.into())),
            "api_key" => Ok(BlockScope::ApiKey(value.into())),
            other => Err(format!("unknown scope `{other}`")),
        }
    }
}

impl fmt::Display for BlockScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockScope::Ip(ip) => write!(f, "ip:{ip}"),
            BlockScope::Cidr(net) => write!(f, "cidr:{net}"),
            BlockScope::Subject(s) => write!(f, "subject:{s}"),
            BlockScope::ApiKey(k) => write!(f, "api_key:{k}"),
        }
    }
}

/// Written as `kind:value` (`ip:10.0.0.1`, `subject:alice`) in the store and APIs.
impl Serialize for BlockScope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BlockScope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let (kind, value) = s
            .split_once(':')
            .ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not kind:value")))?;
        BlockScope::parse(kind, value).map_err(serde::de::Error::custom)
    }
}

/// Who created a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockOrigin {
    /// A static block from the config file.
    Config,
    /// A decision of the analytics worker.
    Analytics,
    /// An operator, through the admin API.
    Manual,
    /// Another sidecar of the fleet.
    Fleet,
}

impl BlockOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            BlockOrigin::Config => "config",
            BlockOrigin::Analytics => "analytics",
            BlockOrigin::Manual => "manual",
            BlockOrigin::Fleet => "fleet",
        }
    }
}

/// A block as the table holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub id: BlockId,
    pub scope: BlockScope,
    /// Why the client is blocked (a detector kind, an operator's note). Logged and
    /// shown to operators, never sent to the blocked client.
    pub reason: Box<str>,
    pub origin: BlockOrigin,
    /// Milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// Milliseconds since the Unix epoch; `None` blocks until removed.
    pub expires_ms: Option<u64>,
    /// The finding that caused it, for analytics blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding: Option<FindingId>,
}

impl Block {
    /// True while the block applies.
    pub fn is_active(&self, now_ms: u64) -> bool {
        self.expires_ms.is_none_or(|e| now_ms < e)
    }
}

/// A block to publish; the table assigns its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBlock {
    pub scope: BlockScope,
    pub reason: Box<str>,
    pub origin: BlockOrigin,
    pub created_ms: u64,
    pub expires_ms: Option<u64>,
    pub finding: Option<FindingId>,
}

impl NewBlock {
    /// The block this becomes under `id`.
    pub fn into_block(self, id: BlockId) -> Block {
        Block {
            id,
            scope: self.scope,
            reason: self.reason,
            origin: self.origin,
            created_ms: self.created_ms,
            expires_ms: self.expires_ms,
            finding: self.finding,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_from_config_words() {
        assert_eq!(
            BlockScope::parse("ip", "10.0.0.1"),
            Ok(BlockScope::Ip("10.0.0.1".parse().unwrap()))
        );
        assert_eq!(
            BlockScope::parse("cidr", "10.1.2.3/16")
                .unwrap()
                .to_string(),
            "cidr:10.1.0.0/16"
        );
        assert!(BlockScope::parse("ip", "10.0.0.300").is_err());
        assert!(BlockScope::parse("subject", "").is_err());
        assert!(BlockScope::parse("user", "x").is_err());
    }

    #[test]
    fn expiry_is_exclusive() {
        let b = Block {
            id: 1,
            scope: BlockScope::Subject("u".into()),
            reason: "r".into(),
            origin: BlockOrigin::Manual,
            created_ms: 0,
            expires_ms: Some(1000),
            finding: None,
        };
        assert!(b.is_active(999));
        assert!(!b.is_active(1000));
    }
}
