//! Target `siem_syslog`: the RFC 5424 encoder (header, `palisade@32473`
//! structured data, the CEF line as MSG) and RFC 6587 octet counting, on
//! records whose every string is chosen by the fuzzer, decoded again by a
//! strict RFC 5424 decoder (`syslog_decode`).
//!
//! Asserts the message has no control character and decodes strictly; PRI,
//! timestamp, HOSTNAME, APP-NAME and MSGID are what the record and options
//! say; each attacker-chosen SD-PARAM decodes to its value (cut, control
//! characters as spaces); the MSG is the record's CEF line and passes the CEF
//! target's checks; the frame's length is the message's.

use std::time::UNIX_EPOCH;

use arbitrary::{Arbitrary, Unstructured};
use palisade_models::SiemEvent;
use palisade_siem::format::syslog::{self, SD_ID, SyslogOptions};
use palisade_siem::format::{cef, record_type, syslog_severity};

use super::siem_record::{Input, cut, spaced};
use super::{cef_decode, siem_cef, syslog_decode};

/// The last millisecond RFC 3339 can write (9999-12-31T23:59:59.999Z).
const MAX_MS: u64 = 253_402_300_799_999;

pub fn run(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let record = input.record();
    let src = input.source();
    let opts = SyslogOptions {
        facility: input.facility,
        app_name: input.app_name.as_str().into(),
    };
    let msg = syslog::message(&record, &src, &opts);
    let text = String::from_utf8_lossy(&msg);
    let s = syslog_decode::decode(&msg).unwrap_or_else(|e| panic!("{e}: {text:?}"));

    let pri = u16::from(input.facility.min(23)) * 8 + u16::from(syslog_severity(&record));
    assert_eq!(s.pri, pri);
    let at = humantime::parse_rfc3339(&s.timestamp).expect("an RFC 3339 timestamp");
    let ms = at
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    assert_eq!(
        ms,
        u128::from(record.created_ms.min(MAX_MS)),
        "{}",
        s.timestamp
    );
    assert_eq!(s.hostname, header_field(&input.hostname, 255));
    assert_eq!(s.app_name, header_field(&input.app_name, 48));
    assert_eq!(s.procid, "-");
    assert_eq!(s.msgid, record_type(&record));

    assert_eq!(s.sd.len(), 1, "one SD-ELEMENT: {text:?}");
    let (id, params) = &s.sd[0];
    assert_eq!(id, SD_ID);
    for (i, (name, _)) in params.iter().enumerate() {
        assert!(
            params[..i].iter().all(|(n, _)| n != name),
            "SD-PARAM {name} twice: {text:?}"
        );
    }
    let param = |name: &str, raw: Option<&str>| {
        let got = params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        assert_eq!(
            got,
            raw.map(|r| spaced(r, 1023)).as_deref(),
            "{name}: {text:?}"
        );
    };
    param("id", Some(&input.id));
    match &record.event {
        SiemEvent::Finding { .. } => {
            let (path, agent) = input.finding_path_and_agent();
            param("path", path);
            param("user_agent", agent);
            param("client_subject", input.subject.as_deref());
            param("client_api_key", input.api_key.as_deref());
            param("endpoint", input.endpoint.as_deref());
            param("reason", None);
        }
        SiemEvent::Block { .. } => {
            param("reason", Some(&input.reason));
            param("actor", Some(&input.actor));
        }
        SiemEvent::Unblock { .. } => {
            param("reason", Some(&input.summary));
            param("actor", Some(&input.actor));
        }
        SiemEvent::Denied(_) => param("path", None),
    }

    let line = s.msg.expect("a MSG");
    assert_eq!(line, cef::event(&record, &src), "the MSG is the CEF line");
    let decoded = cef_decode::decode(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    siem_cef::check(&decoded, &input, &record, &line);

    let frame = syslog::octet_frame(&msg);
    let prefix = format!("{} ", msg.len());
    assert!(frame.starts_with(prefix.as_bytes()) && frame[prefix.len()..] == msg[..]);
}

/// HOSTNAME and APP-NAME as the encoder documents them: printable US-ASCII,
/// anything else `_`, at most `max` characters, `-` when empty.
fn header_field(s: &str, max: usize) -> String {
    let out: String = cut(s, max)
        .chars()
        .map(|c| if matches!(c, '!'..='~') { c } else { '_' })
        .collect();
    if out.is_empty() { "-".into() } else { out }
}
