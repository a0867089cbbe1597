//! What the SIEM targets share: a `SiemRecord` (finding, block, unblock or
//! denied summary) built from structured fuzz input, every string in it
//! attacker-chosen, as summaries, paths, user agents, subjects and reasons are;
//! and what an encoder must turn each string into (cut, control characters
//! replaced), computed here independently of the encoders.

use std::net::IpAddr;

use arbitrary::Arbitrary;
use palisade_models::{
    Block, BlockOrigin, BlockScope, DeniedSummary, Finding, FindingClient, FindingId, FindingKind,
    FindingRequest, Severity, SiemEvent, SiemRecord, SiemSource,
};
use serde_json::{Map, Value};

#[derive(Arbitrary, Debug)]
pub(super) enum Evidence {
    Text(String),
    Int(i64),
    Float(f64),
    Flag(bool),
    Null,
}

#[derive(Arbitrary, Debug)]
pub(super) struct Input {
    kind: u8,
    seq: u64,
    pub(super) id: String,
    created_ms: u64,
    pub(super) hostname: String,
    pub(super) version: String,
    pub(super) app_name: String,
    pub(super) facility: u8,
    finding_kind: u8,
    severity: u8,
    confidence: f32,
    ip: Option<[u8; 16]>,
    ip_v4: bool,
    pub(super) subject: Option<String>,
    pub(super) api_key: Option<String>,
    pub(super) endpoint: Option<String>,
    instance: Option<String>,
    window: (u64, u64),
    pub(super) summary: String,
    evidence: Vec<(String, Evidence)>,
    pub(super) request: Option<(String, String, u16, u16, Option<String>)>,
    scope: u8,
    scope_text: String,
    pub(super) reason: String,
    origin: u8,
    block_id: u64,
    expires_ms: Option<u64>,
    pub(super) actor: String,
    expired: bool,
    by_reason: Vec<(String, u64)>,
    total: u64,
}

impl Input {
    pub(super) fn source(&self) -> SiemSource {
        SiemSource {
            hostname: self.hostname.as_str().into(),
            product: "palisade".into(),
            version: self.version.as_str().into(),
        }
    }

    fn ip(&self) -> Option<IpAddr> {
        self.ip.map(|b| {
            if self.ip_v4 {
                IpAddr::from([b[0], b[1], b[2], b[3]])
            } else {
                IpAddr::from(b)
            }
        })
    }

    fn block(&self) -> Block {
        let scope = match self.scope % 4 {
            0 => BlockScope::Ip(self.ip().unwrap_or(IpAddr::from([192, 0, 2, 1]))),
            // INVARIANT: a literal network.
            1 => BlockScope::Cidr("2001:db8::/64".parse().expect("a network")),
            2 => BlockScope::Subject(self.scope_text.as_str().into()),
            _ => BlockScope::ApiKey(self.scope_text.as_str().into()),
        };
        let origins = [
            BlockOrigin::Config,
            BlockOrigin::Analytics,
            BlockOrigin::Manual,
            BlockOrigin::Fleet,
        ];
        Block {
            id: self.block_id,
            scope,
            reason: self.reason.as_str().into(),
            origin: origins[usize::from(self.origin) % origins.len()],
            created_ms: self.created_ms,
            expires_ms: self.expires_ms,
            finding: self.expired.then_some(FindingId(u128::from(self.seq))),
        }
    }

    pub(super) fn record(&self) -> SiemRecord {
        let event = match self.kind % 4 {
            0 => SiemEvent::Finding {
                finding: Finding {
                    id: FindingId(u128::from(self.seq) << 64 | u128::from(self.block_id)),
                    kind: FindingKind::ALL[usize::from(self.finding_kind) % FindingKind::ALL.len()],
                    severity: Severity::ALL[usize::from(self.severity) % Severity::ALL.len()],
                    confidence: self.confidence,
                    client: FindingClient {
                        ip: self.ip(),
                        subject: self.subject.as_deref().map(Into::into),
                        api_key_id: self.api_key.as_deref().map(Into::into),
                    },
                    endpoint: self.endpoint.as_deref().map(Into::into),
                    instance: self.instance.as_deref().map(Into::into),
                    window_start_ms: self.window.0,
                    window_end_ms: self.window.1,
                    summary: self.summary.as_str().into(),
                    evidence: self.evidence(),
                    request: self
                        .request
                        .as_ref()
                        .map(|(m, p, status, port, ua)| FindingRequest {
                            method: m.as_str().into(),
                            path: p.as_str().into(),
                            status: *status,
                            peer_port: *port,
                            user_agent: ua.as_deref().map(Into::into),
                        }),
                },
            },
            1 => SiemEvent::Block {
                block: self.block(),
                actor: self.actor.as_str().into(),
            },
            2 => SiemEvent::Unblock {
                block: self.block(),
                actor: self.actor.as_str().into(),
                reason: self.summary.as_str().into(),
                expired: self.expired,
            },
            _ => SiemEvent::Denied(DeniedSummary {
                window_start_ms: self.window.0,
                window_end_ms: self.window.1,
                total: self.total,
                by_reason: self.by_reason.iter().cloned().collect(),
            }),
        };
        SiemRecord {
            seq: self.seq,
            id: self.id.as_str().into(),
            created_ms: self.created_ms,
            event,
        }
    }

    fn evidence(&self) -> Map<String, Value> {
        self.evidence
            .iter()
            .filter_map(|(k, v)| {
                let v = match v {
                    Evidence::Text(s) => Value::from(s.as_str()),
                    Evidence::Int(n) => Value::from(*n),
                    Evidence::Float(f) => Value::from(serde_json::Number::from_f64(*f)?),
                    Evidence::Flag(b) => Value::from(*b),
                    Evidence::Null => Value::Null,
                };
                Some((k.clone(), v))
            })
            .collect()
    }

    /// The attacker-chosen strings a finding puts in the request fields:
    /// (path, user agent), from the request when there is one.
    pub(super) fn finding_path_and_agent(&self) -> (Option<&str>, Option<&str>) {
        match &self.request {
            Some((_, path, _, _, ua)) => (Some(path), ua.as_deref()),
            None => (
                self.endpoint
                    .as_deref()
                    .map(|e| e.split_once(' ').map_or(e, |(_, p)| p)),
                None,
            ),
        }
    }
}

/// At most `max` characters of `s`.
pub(super) fn cut(s: &str, max: usize) -> &str {
    s.char_indices().nth(max).map_or(s, |(at, _)| &s[..at])
}

/// A string as a CEF extension value must decode to: cut to 1023 characters,
/// line breaks kept (they are escaped), other control characters as spaces.
pub(super) fn cef_value(s: &str) -> String {
    cut(s, 1023)
        .chars()
        .map(|c| match c {
            '\n' | '\r' => c,
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

/// A string as a CEF header field or an SD-PARAM value must decode to: cut to
/// `max` characters, every control character as a space.
pub(super) fn spaced(s: &str, max: usize) -> String {
    cut(s, max)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
