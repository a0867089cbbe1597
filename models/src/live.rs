//! Owns what the analytics worker shows of itself while it runs: the live view
//! (inventory, top clients) it publishes every second, a tracked client's summary,
//! and the commands the admin surface sends it. Read by the admin API and
//! `/metrics`; never on the request path.

use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::BlockScope;
use crate::endpoint::EndpointInfo;

/// Upper bounds of the per-endpoint latency histogram buckets, in microseconds
/// (Prometheus `le` labels); a last, implicit bucket is `+Inf`.
pub const LATENCY_BUCKETS_US: [u64; 12] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000,
];

/// A client as the admin API names it: `ip:203.0.113.9`, `subject:alice`,
/// `api_key:k1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientName {
    Ip(IpAddr),
    Subject(Box<str>),
    ApiKey(Box<str>),
}

impl ClientName {
    /// The block scope that matches this client.
    pub fn scope(&self) -> BlockScope {
        match self {
            ClientName::Ip(ip) => BlockScope::Ip(*ip),
            ClientName::Subject(s) => BlockScope::Subject(s.clone()),
            ClientName::ApiKey(k) => BlockScope::ApiKey(k.clone()),
        }
    }

    /// The value alone (the address, subject or key id), as findings name clients.
    pub fn value(&self) -> String {
        match self {
            ClientName::Ip(ip) => ip.to_string(),
            ClientName::Subject(s) | ClientName::ApiKey(s) => s.to_string(),
        }
    }
}

impl std::fmt::Display for ClientName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientName::Ip(ip) => write!(f, "ip:{ip}"),
            ClientName::Subject(s) => write!(f, "subject:{s}"),
            ClientName::ApiKey(k) => write!(f, "api_key:{k}"),
        }
    }
}

impl FromStr for ClientName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, value) = s.split_once(':').ok_or_else(|| {
            format!("`{s}` is not a client key: write ip:<address>, subject:<sub> or api_key:<id>")
        })?;
        match BlockScope::parse(kind, value)? {
            BlockScope::Ip(ip) => Ok(ClientName::Ip(ip)),
            BlockScope::Subject(v) => Ok(ClientName::Subject(v)),
            BlockScope::ApiKey(v) => Ok(ClientName::ApiKey(v)),
            BlockScope::Cidr(_) => Err(format!(
                "`{s}` is a network: clients are ip:, subject: or api_key:"
            )),
        }
    }
}

impl Serialize for ClientName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClientName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A tracked client's recent behaviour: counts over its last one to two windows
/// (`analytics.client_window`). Never carries a secret: keys are addresses,
/// verified subjects and API key ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientSummary {
    pub key: ClientName,
    pub requests: u64,
    pub unauthorized: u64,
    pub forbidden: u64,
    pub not_found: u64,
    pub server_errors: u64,
    pub login_failed: u64,
    pub signature_hits: u64,
    /// Milliseconds since the Unix epoch.
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
}

impl ClientSummary {
    /// Requests that failed in a way attackers cause: 401, 403, 404, failed
    /// logins, signature hits.
    pub fn failures(&self) -> u64 {
        self.unauthorized
            + self.forbidden
            + self.not_found
            + self.login_failed
            + self.signature_hits
    }
}

/// What the analytics worker publishes every second.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveView {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub endpoints: Vec<EndpointInfo>,
    /// The most active clients, most requests first.
    pub top_talkers: Vec<ClientSummary>,
    /// The clients with the most failures, most first; none without failures.
    pub top_failing: Vec<ClientSummary>,
    pub clients_tracked: u64,
}
