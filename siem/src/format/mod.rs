//! Owns the pure formatting of a `SiemRecord` into what each SIEM expects: a CEF
//! line (`cef`), an RFC 5424 syslog message carrying it (`syslog`), an OCSF
//! Detection Finding (`ocsf`), an ECS document (`ecs`) and a Splunk HEC envelope
//! (`hec`), plus what they share: the facts pulled out of a record once
//! (`Facts`), the severity scales, timestamps and the evidence summary.
//!
//! Must not do I/O of any kind (the transports and the delivery loop call these
//! functions), and must never add anything the record does not already hold: a
//! record never carries a token, a cookie or a body, and neither does its output.
//! Every string field is attacker-influenced (summary, path, user agent, subject,
//! reasons): each format escapes it for its own syntax and none ever emits a raw
//! line break.
//!
//! Severity scales, one row per record (see `cef_severity`, `syslog_severity`,
//! `ocsf_severity_id`):
//!
//! | record            | CEF 0-10 | syslog 0-7      | OCSF severity_id  |
//! |-------------------|----------|-----------------|-------------------|
//! | finding, info     | 1        | 6 informational | 1 Informational   |
//! | finding, low      | 3        | 5 notice        | 2 Low             |
//! | finding, medium   | 5        | 4 warning       | 3 Medium          |
//! | finding, high     | 8        | 3 error         | 4 High            |
//! | finding, critical | 10       | 2 critical      | 5 Critical        |
//! | block             | 7        | 4 warning       | 3 Medium          |
//! | unblock           | 3        | 5 notice        | 1 Informational   |
//! | denied summary    | 5        | 5 notice        | 2 Low             |
//!
//! A block is CEF 7 (ArcSight's "high" band) so default high-severity views show
//! it: it changes what a client can do. ECS `event.severity` uses the CEF number,
//! as Elastic's own CEF integration does.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::{Duration, UNIX_EPOCH};

use palisade_models::{Block, BlockScope, DeniedSummary, FindingId, Severity, SiemEvent};
pub use palisade_models::{SiemRecord, SiemSource};
use serde_json::{Map, Value};

pub mod cef;
pub mod ecs;
pub mod hec;
pub mod ocsf;
pub mod syslog;

#[cfg(test)]
mod tests;

/// Which JSON document an HTTP or HEC sink sends: an OCSF 1.4.0 Detection Finding
/// (`ocsf::document`), an ECS 8.11 document (`ecs::document`) or the `SiemRecord`
/// itself, as serde serialises it. The config's own type.
pub use palisade_models::config::SchemaName as Schema;

/// The JSON document `schema` makes of `record`.
pub fn document(schema: Schema, record: &SiemRecord, src: &SiemSource) -> Value {
    match schema {
        Schema::Ocsf => ocsf::document(record, src),
        Schema::Ecs => ecs::document(record, src),
        Schema::Native => native(record),
    }
}

/// The record as serde serialises it (what the outbox stores).
fn native(record: &SiemRecord) -> Value {
    // Serialising a SiemRecord cannot fail (string keys, no fallible types); the
    // fallback still names the record rather than sending nothing.
    serde_json::to_value(record).unwrap_or_else(|_| serde_json::json!({ "id": &*record.id }))
}

/// CEF severity (0-10) of a record; see the module's table.
pub fn cef_severity(record: &SiemRecord) -> u8 {
    match &record.event {
        SiemEvent::Finding { finding } => match finding.severity {
            Severity::Info => 1,
            Severity::Low => 3,
            Severity::Medium => 5,
            Severity::High => 8,
            Severity::Critical => 10,
        },
        SiemEvent::Block { .. } => 7,
        SiemEvent::Unblock { .. } => 3,
        SiemEvent::Denied(_) => 5,
    }
}

/// Syslog severity (RFC 5424 6.2.1, 0 emergency .. 7 debug) of a record; see the
/// module's table.
pub fn syslog_severity(record: &SiemRecord) -> u8 {
    match &record.event {
        SiemEvent::Finding { finding } => match finding.severity {
            Severity::Info => 6,
            Severity::Low => 5,
            Severity::Medium => 4,
            Severity::High => 3,
            Severity::Critical => 2,
        },
        SiemEvent::Block { .. } => 4,
        SiemEvent::Unblock { .. } | SiemEvent::Denied(_) => 5,
    }
}

/// OCSF `severity_id` (1 Informational .. 5 Critical) of a record; see the
/// module's table.
pub fn ocsf_severity_id(record: &SiemRecord) -> u8 {
    match &record.event {
        SiemEvent::Finding { finding } => match finding.severity {
            Severity::Info => 1,
            Severity::Low => 2,
            Severity::Medium => 3,
            Severity::High => 4,
            Severity::Critical => 5,
        },
        SiemEvent::Block { .. } => 3,
        SiemEvent::Unblock { .. } => 1,
        SiemEvent::Denied(_) => 2,
    }
}

/// What a record is, as one word: syslog's MSGID, HEC's `palisade_type`, the
/// suffix of ECS's `event.dataset`.
pub fn record_type(record: &SiemRecord) -> &'static str {
    match &record.event {
        SiemEvent::Finding { .. } => "finding",
        SiemEvent::Block { .. } => "block",
        SiemEvent::Unblock { .. } => "unblock",
        SiemEvent::Denied(_) => "denied",
    }
}

/// The most characters of the evidence summary (CEF `cs4`).
pub(crate) const EVIDENCE_SUMMARY_MAX: usize = 512;

/// The facts every format names, pulled out of a record once so that all formats
/// say the same thing about it. Borrowed from the record; nothing is added.
#[derive(Debug)]
pub(crate) struct Facts<'a> {
    /// The finding kind (`bola_enumeration`) or `block`, `unblock`,
    /// `denied_summary`: CEF's signature id, OCSF's `finding_info.types`.
    pub kind: &'static str,
    /// Short human title (CEF name, OCSF title).
    pub title: String,
    /// One line for people: the finding's summary, or what happened.
    pub message: String,
    pub ip: Option<IpAddr>,
    /// The TCP source port of the triggering request, when known (nonzero).
    pub port: Option<u16>,
    pub subject: Option<&'a str>,
    pub api_key: Option<&'a str>,
    /// `METHOD /template`, as the finding names it.
    pub endpoint: Option<&'a str>,
    /// The triggering request's method, else the endpoint's.
    pub method: Option<&'a str>,
    /// The triggering request's path, else the endpoint's template.
    pub path: Option<&'a str>,
    pub status: Option<u16>,
    pub user_agent: Option<&'a str>,
    pub finding_id: Option<FindingId>,
    /// The window the evidence covers, in ms since the epoch.
    pub window: Option<(u64, u64)>,
    /// 0..=100.
    pub confidence: Option<u8>,
    pub evidence: Option<&'a Map<String, Value>>,
    pub block: Option<&'a Block>,
    /// Who created or removed the block.
    pub actor: Option<&'a str>,
    /// Why: the block's reason, or the unblock's ("expired", an operator's note).
    pub reason: Option<&'a str>,
    pub expired: bool,
    pub denied: Option<&'a DeniedSummary>,
}

impl<'a> Facts<'a> {
    pub(crate) fn of(record: &'a SiemRecord) -> Self {
        let mut f = Facts::empty();
        match &record.event {
            SiemEvent::Finding { finding } => {
                f.kind = finding.kind.as_str();
                f.title = cut(&finding.summary, 128).to_string();
                f.message = finding.summary.to_string();
                f.ip = finding.client.ip;
                f.subject = finding.client.subject.as_deref();
                f.api_key = finding.client.api_key_id.as_deref();
                f.endpoint = finding.endpoint.as_deref();
                let (ep_method, ep_path) = split_endpoint(f.endpoint);
                f.method = ep_method;
                f.path = ep_path;
                if let Some(req) = &finding.request {
                    f.method = Some(&req.method);
                    f.path = Some(&req.path);
                    f.status = Some(req.status);
                    f.port = (req.peer_port != 0).then_some(req.peer_port);
                    f.user_agent = req.user_agent.as_deref();
                }
                f.finding_id = Some(finding.id);
                f.window = Some((finding.window_start_ms, finding.window_end_ms));
                f.confidence = Some(percent(finding.confidence));
                f.evidence = Some(&finding.evidence);
            }
            SiemEvent::Block { block, actor } => {
                f.kind = "block";
                f.title = "Client blocked".to_string();
                f.message = block_message(block);
                f.client_of_scope(&block.scope);
                f.finding_id = block.finding;
                f.block = Some(block);
                f.actor = Some(actor);
                f.reason = Some(&block.reason);
            }
            SiemEvent::Unblock {
                block,
                actor,
                reason,
                expired,
            } => {
                f.kind = "unblock";
                f.title = if *expired {
                    "Block expired"
                } else {
                    "Client unblocked"
                }
                .to_string();
                f.message = if *expired {
                    format!("Block of {} expired", block.scope)
                } else {
                    format!("Block of {} removed: {reason}", block.scope)
                };
                f.client_of_scope(&block.scope);
                f.finding_id = block.finding;
                f.block = Some(block);
                f.actor = Some(actor);
                f.reason = Some(reason);
                f.expired = *expired;
            }
            SiemEvent::Denied(d) => {
                f.kind = "denied_summary";
                f.title = "Denied requests summary".to_string();
                f.message = format!("{} requests denied: {}", d.total, by_reason_text(d));
                f.window = Some((d.window_start_ms, d.window_end_ms));
                f.denied = Some(d);
            }
        }
        f
    }

    fn empty() -> Self {
        Facts {
            kind: "",
            title: String::new(),
            message: String::new(),
            ip: None,
            port: None,
            subject: None,
            api_key: None,
            endpoint: None,
            method: None,
            path: None,
            status: None,
            user_agent: None,
            finding_id: None,
            window: None,
            confidence: None,
            evidence: None,
            block: None,
            actor: None,
            reason: None,
            expired: false,
            denied: None,
        }
    }

    /// The client a block scope names (a CIDR names no single client).
    fn client_of_scope(&mut self, scope: &'a BlockScope) {
        match scope {
            BlockScope::Ip(ip) => self.ip = Some(*ip),
            BlockScope::Cidr(_) => {}
            BlockScope::Subject(s) => self.subject = Some(s),
            BlockScope::ApiKey(k) => self.api_key = Some(k),
        }
    }

    /// What Palisade did and how it ended, as CEF's `act` and `outcome` (and
    /// syslog's `action`) name it.
    pub(crate) fn action(&self) -> (&'static str, &'static str) {
        match self.kind {
            "block" => ("block", "blocked"),
            "unblock" if self.expired => ("unblock", "expired"),
            "unblock" => ("unblock", "removed"),
            "denied_summary" => ("deny", "denied"),
            _ => ("alert", "detected"),
        }
    }

    /// The user as CEF's `suser` names it: the JWT subject, else `api_key:<id>`.
    pub(crate) fn user(&self) -> Option<String> {
        match (self.subject, self.api_key) {
            (Some(s), _) => Some(s.to_string()),
            (None, Some(k)) => Some(format!("api_key:{k}")),
            (None, None) => None,
        }
    }
}

/// `METHOD /template` split into its method and template.
fn split_endpoint(endpoint: Option<&str>) -> (Option<&str>, Option<&str>) {
    match endpoint.map(|e| e.split_once(' ')) {
        Some(Some((m, p))) => (Some(m), Some(p)),
        Some(None) => (None, endpoint),
        None => (None, None),
    }
}

/// "Blocked ip:1.2.3.4 until 2025-01-01T00:00:00.000Z (analytics): reason".
fn block_message(block: &Block) -> String {
    let until = block.expires_ms.map_or_else(
        || "until removed".to_string(),
        |e| format!("until {}", rfc3339_ms(e)),
    );
    format!(
        "Blocked {} {until} ({}): {}",
        block.scope,
        block.origin.as_str(),
        block.reason
    )
}

/// A confidence in 0..=1 as a whole percentage (NaN counts as 0).
fn percent(confidence: f32) -> u8 {
    // The clamp keeps the cast in range; `as` maps NaN to 0.
    (confidence.clamp(0.0, 1.0) * 100.0).round() as u8
}

/// `blocked=3 rate_limited=2`, in the summary's (sorted) order.
pub(crate) fn by_reason_text(d: &DeniedSummary) -> String {
    let mut out = String::new();
    for (reason, n) in &d.by_reason {
        if !out.is_empty() {
            out.push(' ');
        }
        let _ = write!(out, "{reason}={n}");
    }
    out
}

/// A short `k=v k=v` text of the evidence's top-level strings, numbers and
/// booleans (arrays, objects and nulls are left out), at most `max` characters;
/// pairs that do not fit whole are dropped, except a first one, which is cut.
pub(crate) fn evidence_summary(evidence: &Map<String, Value>, max: usize) -> String {
    let mut out = String::new();
    for (key, value) in evidence {
        let value = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null | Value::Array(_) | Value::Object(_) => continue,
        };
        let pair = format!("{key}={value}");
        let sep = usize::from(!out.is_empty());
        let have = out.chars().count();
        if have + sep + pair.chars().count() > max {
            if out.is_empty() {
                out.push_str(cut(&pair, max));
            }
            break;
        }
        if sep == 1 {
            out.push(' ');
        }
        out.push_str(&pair);
    }
    out
}

/// `s` cut to at most `max` characters (never inside a character).
pub(crate) fn cut(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

/// The last millisecond RFC 3339 (and humantime) can write: 9999-12-31T23:59:59.999Z.
const MAX_RFC3339_MS: u64 = 253_402_300_799_999;

/// Milliseconds since the Unix epoch as RFC 3339 UTC with milliseconds
/// (`2024-01-02T03:04:05.678Z`); times past year 9999 are written as its end.
pub(crate) fn rfc3339_ms(ms: u64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(ms.min(MAX_RFC3339_MS));
    humantime::format_rfc3339_millis(at).to_string()
}
