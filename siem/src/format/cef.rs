//! Owns the CEF (ArcSight Common Event Format, version 0) line of a record:
//! `CEF:0|Palisade|Palisade|<version>|<signature id>|<name>|<severity>|<extensions>`,
//! and the escaping of its header fields and extension values.
//!
//! Must not emit a raw line break or any other control character (the CEF spec
//! forbids line breaks in the header, and syslog receivers without octet
//! counting split messages on them), and must not name anything the record does
//! not hold.
//!
//! Extension keys, in the order written (keys with no value are left out):
//! `rt` record time (ms), `dvchost` this host, `externalId` record id, `act`
//! (`alert` | `block` | `unblock` | `deny`), `outcome` (`detected` | `blocked` |
//! `removed` | `expired` | `denied`), `src`, `spt`, `suser` (JWT subject or
//! `api_key:<id>`), `requestMethod`, `request` (request path, else the endpoint
//! template), `requestClientApplication`, `msg`, `reason`, `start`/`end` (window
//! or block lifetime), `cnt` (denied total), `cn1` confidence percent, `cs1` kind,
//! `cs2` endpoint, `cs3` finding id, `cs4` evidence (or denied counts by reason),
//! `cs5` block scope, `cs6` block id, `flexString1` block origin, `flexString2`
//! actor, each `csN`/`cnN`/`flexStringN` with its `...Label`.

use std::fmt::Write as _;

use super::{
    EVIDENCE_SUMMARY_MAX, Facts, SiemRecord, SiemSource, cef_severity, cut, evidence_summary,
};

/// CEF's device vendor and product.
const VENDOR: &str = "Palisade";
const PRODUCT: &str = "Palisade";
/// The most characters of the name header field.
const NAME_MAX: usize = 128;
/// The most characters of a free-text extension value (ArcSight's limit for
/// `request`, `msg` and the like is 1023).
const VALUE_MAX: usize = 1023;

/// One CEF line (no trailing newline) for `record`.
pub fn event(record: &SiemRecord, src: &SiemSource) -> String {
    let facts = Facts::of(record);
    let mut line = String::with_capacity(512);
    let _ = write!(
        line,
        "CEF:0|{}|{}|{}|{}|{}|{}|",
        escape_header(VENDOR),
        escape_header(PRODUCT),
        escape_header(&src.version),
        escape_header(facts.kind),
        escape_header(cut(&facts.title, NAME_MAX)),
        cef_severity(record),
    );
    let mut ext = Extensions { line, empty: true };
    extensions(&mut ext, record, src, &facts);
    ext.line
}

/// The extension part of the line, in a fixed order.
fn extensions(ext: &mut Extensions, record: &SiemRecord, src: &SiemSource, f: &Facts<'_>) {
    ext.put("rt", &record.created_ms.to_string());
    ext.put("dvchost", &src.hostname);
    ext.put("externalId", &record.id);
    let (act, outcome) = f.action();
    ext.put("act", act);
    ext.put("outcome", outcome);
    ext.opt("src", f.ip.map(|ip| ip.to_string()));
    ext.opt("spt", f.port.map(|p| p.to_string()));
    ext.opt("suser", f.user());
    ext.opt("requestMethod", f.method);
    ext.opt("request", f.path);
    ext.opt("requestClientApplication", f.user_agent);
    ext.put("msg", &f.message);
    ext.opt("reason", f.reason);
    let lifetime = f.block.map(|b| (b.created_ms, b.expires_ms));
    match (f.window, lifetime) {
        (Some((start, end)), _) => {
            ext.put("start", &start.to_string());
            ext.put("end", &end.to_string());
        }
        (None, Some((created, expires))) => {
            ext.put("start", &created.to_string());
            ext.opt("end", expires.map(|e| e.to_string()));
        }
        (None, None) => {}
    }
    if let Some(d) = f.denied {
        ext.put("cnt", &d.total.to_string());
    }
    if let Some(c) = f.confidence {
        ext.labelled("cn1", "confidence", &c.to_string());
    }
    ext.labelled("cs1", "kind", f.kind);
    if let Some(e) = f.endpoint {
        ext.labelled("cs2", "endpoint", e);
    }
    if let Some(id) = f.finding_id {
        ext.labelled("cs3", "findingId", &id.to_string());
    }
    if let Some(ev) = f.evidence {
        let summary = evidence_summary(ev, EVIDENCE_SUMMARY_MAX);
        if !summary.is_empty() {
            ext.labelled("cs4", "evidence", &summary);
        }
    }
    if let Some(d) = f.denied {
        ext.labelled("cs4", "deniedByReason", &super::by_reason_text(d));
    }
    if let Some(b) = f.block {
        ext.labelled("cs5", "blockScope", &b.scope.to_string());
        ext.labelled("cs6", "blockId", &b.id.to_string());
        ext.labelled("flexString1", "blockOrigin", b.origin.as_str());
    }
    if let Some(actor) = f.actor {
        ext.labelled("flexString2", "actor", actor);
    }
}

/// The line being built: `key=value` pairs, separated by a space, after the header.
struct Extensions {
    line: String,
    /// No pair written yet.
    empty: bool,
}

impl Extensions {
    /// Appends `key=value` (value escaped and cut); an empty value is left out.
    fn put(&mut self, key: &str, value: &str) {
        if value.is_empty() {
            return;
        }
        if !self.empty {
            self.line.push(' ');
        }
        self.empty = false;
        self.line.push_str(key);
        self.line.push('=');
        self.line.push_str(&escape_extension(cut(value, VALUE_MAX)));
    }

    fn opt(&mut self, key: &str, value: Option<impl AsRef<str>>) {
        if let Some(v) = value {
            self.put(key, v.as_ref());
        }
    }

    /// Appends `key=value keyLabel=label`.
    fn labelled(&mut self, key: &str, label: &str, value: &str) {
        if value.is_empty() {
            return;
        }
        self.put(key, value);
        self.put(&format!("{key}Label"), label);
    }
}

/// Escapes a CEF header field: `\` as `\\`, `|` as `\|`; a line break or any
/// other control character becomes a space (the header may not hold them).
pub fn escape_header(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a CEF extension value: `\` as `\\`, `=` as `\=`, a line feed as the
/// two characters `\n` and a carriage return as `\r`; any other control character
/// (tab, NUL, escape, C1) becomes a space. Non-ASCII passes through as UTF-8.
pub fn escape_extension(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}
