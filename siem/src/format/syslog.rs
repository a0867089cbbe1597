//! Owns the RFC 5424 syslog message of a record,
//! `<PRI>1 TIMESTAMP HOSTNAME APP-NAME - MSGID [palisade@32473 ...] CEF:0|...`,
//! and RFC 6587 octet-counting framing for TCP and TLS transports.
//!
//! Must not emit a raw line break (receivers without octet counting split on
//! it): the CEF line is already free of them and structured-data values have
//! every control character replaced by a space. Does no I/O.
//!
//! The SD-ID is `palisade@32473`: 32473 is IANA's example Private Enterprise
//! Number (RFC 5612), reserved for documentation. An operator whose receiver
//! insists on a registered number may want their own; receivers that only read
//! the CEF MSG do not care.

use std::fmt::Write as _;

use super::{
    Facts, SiemRecord, SiemSource, by_reason_text, cef, record_type, rfc3339_ms, syslog_severity,
};
use palisade_models::SiemEvent;

/// The structured-data element's id (see the module doc about 32473).
pub const SD_ID: &str = "palisade@32473";
/// RFC 5424 6.2: the longest HOSTNAME and APP-NAME.
const HOSTNAME_MAX: usize = 255;
const APP_NAME_MAX: usize = 48;
/// The most characters of a free-text SD-PARAM value.
const PARAM_MAX: usize = 1023;

/// How a syslog sink names itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogOptions {
    /// The syslog facility, 0..=23 (16..=23 are local0..local7); larger values
    /// are taken as 23.
    pub facility: u8,
    /// APP-NAME, "palisade" by default.
    pub app_name: Box<str>,
}

/// One RFC 5424 message (no trailing newline, no BOM) whose MSG is the record's
/// CEF line and whose structured data carries the same facts as params.
pub fn message(record: &SiemRecord, src: &SiemSource, opts: &SyslogOptions) -> Vec<u8> {
    let pri = u16::from(opts.facility.min(23)) * 8 + u16::from(syslog_severity(record));
    let mut out = String::with_capacity(1024);
    let _ = write!(
        out,
        "<{pri}>1 {} {} {} - {} ",
        rfc3339_ms(record.created_ms),
        header_field(&src.hostname, HOSTNAME_MAX),
        header_field(&opts.app_name, APP_NAME_MAX),
        record_type(record),
    );
    structured_data(&mut out, record);
    out.push(' ');
    out.push_str(&cef::event(record, src));
    out.into_bytes()
}

/// RFC 6587 3.4.1 octet-counting frame: `<len> <msg>`, len in decimal bytes.
pub fn octet_frame(msg: &[u8]) -> Vec<u8> {
    let mut out = format!("{} ", msg.len()).into_bytes();
    out.extend_from_slice(msg);
    out
}

/// A HOSTNAME or APP-NAME: printable US-ASCII (33..=126) only, anything else
/// replaced by `_`, at most `max` characters, `-` (the NILVALUE) when empty.
fn header_field(s: &str, max: usize) -> String {
    let out: String = s
        .chars()
        .take(max)
        .map(|c| if matches!(c, '!'..='~') { c } else { '_' })
        .collect();
    if out.is_empty() { "-".to_string() } else { out }
}

/// `[palisade@32473 name="value" ...]`.
fn structured_data(out: &mut String, record: &SiemRecord) {
    let f = Facts::of(record);
    let mut sd = Params(out);
    sd.0.push('[');
    sd.0.push_str(SD_ID);
    sd.put("id", &record.id);
    sd.put("type", record_type(record));
    sd.put("kind", f.kind);
    if let SiemEvent::Finding { finding } = &record.event {
        sd.put("severity", finding.severity.as_str());
    }
    sd.put("action", f.action().0);
    sd.opt("confidence", f.confidence);
    sd.opt("client_ip", f.ip);
    sd.opt("client_port", f.port);
    sd.opt("client_subject", f.subject);
    sd.opt("client_api_key", f.api_key);
    sd.opt("endpoint", f.endpoint);
    sd.opt("method", f.method);
    sd.opt("path", f.path);
    sd.opt("status", f.status);
    sd.opt("user_agent", f.user_agent);
    sd.opt("finding_id", f.finding_id);
    if let Some((start, end)) = f.window {
        sd.put("window_start", &rfc3339_ms(start));
        sd.put("window_end", &rfc3339_ms(end));
    }
    if let Some(b) = f.block {
        sd.put("block_id", &b.id.to_string());
        sd.put("scope", &b.scope.to_string());
        sd.put("origin", b.origin.as_str());
        sd.opt("expires", b.expires_ms.map(rfc3339_ms));
    }
    sd.opt("actor", f.actor);
    sd.opt("reason", f.reason);
    if let Some(d) = f.denied {
        sd.put("total", &d.total.to_string());
        sd.put("by_reason", &by_reason_text(d));
    }
    sd.0.push(']');
}

/// SD-PARAMs being appended to a message.
struct Params<'a>(&'a mut String);

impl Params<'_> {
    /// Appends ` name="value"`; names are fixed ASCII, values are escaped.
    fn put(&mut self, name: &str, value: &str) {
        let _ = write!(self.0, " {name}=\"");
        escape_param_into(self.0, super::cut(value, PARAM_MAX));
        self.0.push('"');
    }

    fn opt(&mut self, name: &str, value: Option<impl ToString>) {
        if let Some(v) = value {
            self.put(name, &v.to_string());
        }
    }
}

/// Escapes an SD-PARAM value (RFC 5424 6.3.3): `"`, `\` and `]` get a
/// backslash; control characters, which would break the line, become a space.
pub fn escape_param(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_param_into(&mut out, s);
    out
}

fn escape_param_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' | '\\' | ']' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
}
