//! Owns `Finding`: what the analytics worker concluded about a client or an
//! endpoint (kind, severity, confidence, who, where, when, and the evidence), as the
//! store keeps it, the dashboard shows it and the SIEM receives it.
//!
//! Must never carry a secret: evidence holds counts, rates, templates and sample
//! object ids, never a token, a credential, a username or a body.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A finding's identifier: a UUIDv7, so ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FindingId(pub u128);

impl FindingId {
    /// A new id for a finding made at `unix_ms`; `rand` fills the 74 random bits.
    pub fn new(unix_ms: u64, rand: u128) -> Self {
        let ts = u128::from(unix_ms & 0xFFFF_FFFF_FFFF) << 80;
        let version = 0x7u128 << 76;
        let variant = 0b10u128 << 62;
        let rand_a = (rand >> 62 & 0xFFF) << 64;
        let rand_b = rand & ((1u128 << 62) - 1);
        FindingId(ts | version | rand_a | variant | rand_b)
    }

    /// Milliseconds since the Unix epoch when the id was made.
    pub fn unix_ms(self) -> u64 {
        (self.0 >> 80) as u64
    }
}

impl fmt::Display for FindingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = format!("{:032x}", self.0);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

impl FromStr for FindingId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex: String = s.chars().filter(|c| *c != '-').collect();
        if hex.len() != 32 || s.len() != 36 {
            return Err(format!("`{s}` is not a finding id (a UUID)"));
        }
        u128::from_str_radix(&hex, 16)
            .map(FindingId)
            .map_err(|_| format!("`{s}` is not a finding id (a UUID)"))
    }
}

impl Serialize for FindingId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FindingId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What a detector found; each kind is one detector (one file in `analytics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    AuthFailureSpike,
    BolaEnumeration,
    CredentialStuffing,
    BruteForce,
    Scraping,
    Probing,
    VolumeAnomaly,
    LatencyAnomaly,
    ErrorBurst,
    NewEndpoint,
    Signature,
    /// Body properties an operation does not accept that grant privileges or
    /// set server-owned state (OpenAPI validation).
    MassAssignment,
    UnusualClient,
}

impl FindingKind {
    pub const ALL: [FindingKind; 13] = [
        FindingKind::AuthFailureSpike,
        FindingKind::BolaEnumeration,
        FindingKind::CredentialStuffing,
        FindingKind::BruteForce,
        FindingKind::Scraping,
        FindingKind::Probing,
        FindingKind::VolumeAnomaly,
        FindingKind::LatencyAnomaly,
        FindingKind::ErrorBurst,
        FindingKind::NewEndpoint,
        FindingKind::Signature,
        FindingKind::MassAssignment,
        FindingKind::UnusualClient,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::AuthFailureSpike => "auth_failure_spike",
            FindingKind::BolaEnumeration => "bola_enumeration",
            FindingKind::CredentialStuffing => "credential_stuffing",
            FindingKind::BruteForce => "brute_force",
            FindingKind::Scraping => "scraping",
            FindingKind::Probing => "probing",
            FindingKind::VolumeAnomaly => "volume_anomaly",
            FindingKind::LatencyAnomaly => "latency_anomaly",
            FindingKind::ErrorBurst => "error_burst",
            FindingKind::NewEndpoint => "new_endpoint",
            FindingKind::Signature => "signature",
            FindingKind::MassAssignment => "mass_assignment",
            FindingKind::UnusualClient => "unusual_client",
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FindingKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FindingKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<_> = FindingKind::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown finding kind `{s}`; one of {}", all.join(", "))
            })
    }
}

/// How bad a finding is, lowest first (so `>=` compares severities).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!("unknown severity `{s}`; one of info, low, medium, high, critical")
            })
    }
}

/// The client a finding is about, as far as it is known. Empty for findings about
/// an endpoint as a whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FindingClient {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Box<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_id: Option<Box<str>>,
}

impl FindingClient {
    pub fn is_empty(&self) -> bool {
        self.ip.is_none() && self.subject.is_none() && self.api_key_id.is_none()
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub id: FindingId,
    pub kind: FindingKind,
    pub severity: Severity,
    /// How sure the detector is, from 0 to 1.
    pub confidence: f32,
    /// Who; empty for endpoint-wide findings.
    #[serde(default)]
    pub client: FindingClient,
    /// Where: `METHOD /template`, if the finding is about one endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Box<str>>,
    /// The window the evidence covers, in milliseconds since the Unix epoch.
    pub window_start_ms: u64,
    pub window_end_ms: u64,
    /// One line for people: what was seen.
    pub summary: Box<str>,
    /// Counts, expected vs observed, samples: a JSON object, detector-specific.
    pub evidence: serde_json::Map<String, serde_json::Value>,
    /// The request that tipped the detector over, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<FindingRequest>,
    /// The sidecar that reported it (`fleet.instance`), in fleet mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<Box<str>>,
}

/// The request a finding was raised on: what a SIEM shows as the request (CEF
/// `request`, `requestMethod`, `spt`, `requestClientApplication`). The path has no
/// query string; the user agent is the client's own claim, cut at 256 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRequest {
    pub method: Box<str>,
    pub path: Box<str>,
    pub status: u16,
    /// The TCP source port of the connection it came on (0 when unknown).
    #[serde(default)]
    pub peer_port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<Box<str>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_ids_are_uuid_v7_and_round_trip() {
        let id = FindingId::new(1_700_000_000_123, u128::MAX);
        let text = id.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "7", "version nibble");
        assert!(matches!(&text[19..20], "8" | "9" | "a" | "b"), "variant");
        assert_eq!(text.parse::<FindingId>(), Ok(id));
        assert_eq!(id.unix_ms(), 1_700_000_000_123);
        assert!(FindingId::new(2, 0) > FindingId::new(1, u128::MAX));
        assert!("not-a-uuid".parse::<FindingId>().is_err());
    }

    #[test]
    fn kinds_and_severities_parse_from_their_names() {
        for k in FindingKind::ALL {
            assert_eq!(k.as_str().parse::<FindingKind>(), Ok(k));
        }
        assert!("bola".parse::<FindingKind>().is_err());
        assert!(Severity::High > Severity::Medium);
        assert_eq!("critical".parse::<Severity>(), Ok(Severity::Critical));
    }
}
