//! Target `siem_cef`: the CEF encoder on records whose every string is chosen
//! by the fuzzer, decoded again by a strict decoder (`cef_decode`): escaping
//! is proven by the round trip, not assumed.
//!
//! Asserts the line has no control character, decodes strictly (no unknown
//! escape, no duplicate or unknown key, so no injected field), and gives back
//! each attacker-chosen field as the encoder documents it (cut, control
//! characters as spaces, line breaks escaped in extensions).

use arbitrary::{Arbitrary, Unstructured};
use palisade_models::SiemEvent;
use palisade_siem::format::{cef, cef_severity, record_type};

use super::cef_decode::{self, Cef};
use super::siem_record::{Input, cef_value, spaced};

/// Every extension key the encoder writes (cef.rs's module doc).
const KEYS: [&str; 34] = [
    "rt",
    "dvchost",
    "externalId",
    "act",
    "outcome",
    "src",
    "spt",
    "suser",
    "requestMethod",
    "request",
    "requestClientApplication",
    "msg",
    "reason",
    "start",
    "end",
    "cnt",
    "cn1",
    "cn1Label",
    "cs1",
    "cs1Label",
    "cs2",
    "cs2Label",
    "cs3",
    "cs3Label",
    "cs4",
    "cs4Label",
    "cs5",
    "cs5Label",
    "cs6",
    "cs6Label",
    "flexString1",
    "flexString1Label",
    "flexString2",
    "flexString2Label",
];

pub fn run(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let record = input.record();
    let line = cef::event(&record, &input.source());
    let cef = cef_decode::decode(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    check(&cef, &input, &record, &line);
}

/// The checks, shared with `siem_syslog` (whose MSG is the CEF line).
pub(super) fn check(cef: &Cef, input: &Input, record: &palisade_models::SiemRecord, line: &str) {
    assert_eq!(cef.header[..2], ["Palisade", "Palisade"], "{line:?}");
    assert_eq!(cef.header[2], spaced(&input.version, usize::MAX), "version");
    let kind = match &record.event {
        SiemEvent::Finding { finding } => finding.kind.as_str(),
        SiemEvent::Denied(_) => "denied_summary",
        _ => record_type(record),
    };
    assert_eq!(cef.header[3], kind);
    assert_eq!(cef.header[5], cef_severity(record).to_string());
    for (key, _) in &cef.ext {
        assert!(KEYS.contains(&key.as_str()), "unknown key {key}: {line:?}");
    }
    let field = |key: &str, raw: Option<&str>| {
        let want = raw.map(cef_value).filter(|v| !v.is_empty());
        assert_eq!(cef.get(key), want.as_deref(), "{key} in {line:?}");
    };
    field("externalId", Some(&input.id));
    field("dvchost", Some(&input.hostname));
    match &record.event {
        SiemEvent::Finding { .. } => {
            assert_eq!(cef.header[4], spaced(&input.summary, 128), "name");
            field("msg", Some(&input.summary));
            let (path, agent) = input.finding_path_and_agent();
            field("request", path);
            field("requestClientApplication", agent);
            field("cs2", input.endpoint.as_deref());
            let user = match (&input.subject, &input.api_key) {
                (Some(s), _) => Some(s.clone()),
                (None, Some(k)) => Some(format!("api_key:{k}")),
                (None, None) => None,
            };
            field("suser", user.as_deref());
            field("reason", None);
        }
        SiemEvent::Block { .. } => {
            field("reason", Some(&input.reason));
            field("flexString2", Some(&input.actor));
        }
        SiemEvent::Unblock { .. } => {
            field("reason", Some(&input.summary));
            field("flexString2", Some(&input.actor));
        }
        SiemEvent::Denied(_) => {
            field("request", None);
            field("suser", None);
        }
    }
}
