//! Unit tests of the formats: escaping with every hostile character and parsing
//! the output back (a small CEF parser, an RFC 5424 header and SD parser), the
//! severity tables, and the fields of the OCSF, ECS and HEC documents.
//!
//! Must stay pure: no network, no files.

use std::collections::BTreeMap;

use palisade_models::{
    Block, BlockOrigin, BlockScope, DeniedSummary, Finding, FindingClient, FindingId, FindingKind,
    FindingRequest, Severity, SiemEvent,
};
use serde_json::{Value, json};

use super::hec::HecOptions;
use super::syslog::SyslogOptions;
use super::*;

/// Every character some format must escape or refuse, plus non-ASCII.
const HOSTILE: &str = "a|b=c\\d\"e]f[g\nh\ri é 日本 end";

fn src() -> SiemSource {
    SiemSource {
        hostname: "edge-1".into(),
        product: "palisade".into(),
        version: "0.1.0".into(),
    }
}

fn finding_with(summary: &str, text: &str) -> Finding {
    let mut evidence = serde_json::Map::new();
    evidence.insert("distinct_ids".into(), json!(57));
    evidence.insert("rate".into(), json!(12.5));
    evidence.insert("template".into(), json!(text));
    evidence.insert("samples".into(), json!(["1", "2"]));
    Finding {
        instance: None,
        id: FindingId::new(1_700_000_000_000, 42),
        kind: FindingKind::BolaEnumeration,
        severity: Severity::High,
        confidence: 0.87,
        client: FindingClient {
            ip: Some("203.0.113.7".parse().expect("ip")),
            subject: Some(text.into()),
            api_key_id: None,
        },
        endpoint: Some(format!("GET /users/{{id}}{text}").into()),
        window_start_ms: 1_700_000_000_000,
        window_end_ms: 1_700_000_060_000,
        summary: summary.into(),
        evidence,
        request: Some(FindingRequest {
            method: "GET".into(),
            path: format!("/users/42{text}").into(),
            status: 404,
            peer_port: 51234,
            user_agent: Some(format!("curl/8 {text}").into()),
        }),
    }
}

fn record(event: SiemEvent) -> SiemRecord {
    SiemRecord {
        seq: 7,
        id: "store1-7".into(),
        created_ms: 1_700_000_000_123,
        event,
    }
}

fn finding_record() -> SiemRecord {
    record(SiemEvent::Finding {
        finding: finding_with(&format!("Enumeration {HOSTILE}"), HOSTILE),
    })
}

fn block() -> Block {
    Block {
        id: 9,
        scope: BlockScope::Ip("203.0.113.7".parse().expect("ip")),
        reason: format!("bola {HOSTILE}").into(),
        origin: BlockOrigin::Analytics,
        created_ms: 1_700_000_000_100,
        expires_ms: Some(1_700_003_600_100),
        finding: Some(FindingId::new(1_700_000_000_000, 42)),
    }
}

fn block_record() -> SiemRecord {
    record(SiemEvent::Block {
        block: block(),
        actor: "analytics".into(),
    })
}

fn unblock_record(expired: bool) -> SiemRecord {
    let mut b = block();
    b.scope = BlockScope::ApiKey("key-1".into());
    b.finding = None;
    record(SiemEvent::Unblock {
        block: b,
        actor: "admin:alice@127.0.0.1".into(),
        reason: if expired {
            "expired".into()
        } else {
            HOSTILE.into()
        },
        expired,
    })
}

fn denied_record() -> SiemRecord {
    let mut by_reason = BTreeMap::new();
    by_reason.insert("blocked".to_string(), 3);
    by_reason.insert("rate_limited".to_string(), 9);
    record(SiemEvent::Denied(DeniedSummary {
        window_start_ms: 1_700_000_000_000,
        window_end_ms: 1_700_000_060_000,
        total: 12,
        by_reason,
    }))
}

fn all_records() -> Vec<SiemRecord> {
    vec![
        finding_record(),
        block_record(),
        unblock_record(false),
        unblock_record(true),
        denied_record(),
    ]
}

// ---------------------------------------------------------------------------
// A tiny CEF parser, to read back what `cef::event` wrote.

/// Splits a CEF line into its 7 header fields (unescaped) and the extension.
#[allow(clippy::unwrap_used)]
fn parse_cef(line: &str) -> (Vec<String>, BTreeMap<String, String>) {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.char_indices();
    let mut ext_at = None;
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                let (_, next) = chars.next().unwrap();
                cur.push(next);
            }
            '|' => {
                fields.push(std::mem::take(&mut cur));
                if fields.len() == 7 {
                    ext_at = Some(i + 1);
                    break;
                }
            }
            c => cur.push(c),
        }
    }
    let ext = &line[ext_at.unwrap()..];
    (fields, parse_extension(ext))
}

/// Parses `k1=v1 k2=v v k3=v3`: a key is the word before an unescaped `=`, and a
/// value runs to the space before the next key; values are then unescaped.
#[allow(clippy::unwrap_used)]
fn parse_extension(ext: &str) -> BTreeMap<String, String> {
    // Byte offsets of unescaped '='.
    let bytes = ext.as_bytes();
    let mut eqs = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' => {
                eqs.push(i);
                i += 1;
            }
            _ => i += 1,
        }
    }
    // Each key starts after the last space before its '='.
    let keys: Vec<(usize, usize)> = eqs
        .iter()
        .map(|&eq| {
            let start = ext[..eq].rfind(' ').map_or(0, |s| s + 1);
            assert!(
                ext[start..eq].chars().all(|c| c.is_ascii_alphanumeric()),
                "bad key {:?}",
                &ext[start..eq]
            );
            (start, eq)
        })
        .collect();
    let mut out = BTreeMap::new();
    for (n, &(start, eq)) in keys.iter().enumerate() {
        let end = keys.get(n + 1).map_or(ext.len(), |&(next, _)| next - 1);
        let key = ext[start..eq].to_string();
        let prev = out.insert(key.clone(), unescape_extension(&ext[eq + 1..end]));
        assert!(prev.is_none(), "duplicate key {key}");
    }
    out
}

fn unescape_extension(v: &str) -> String {
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => panic!("dangling backslash in {v:?}"),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// CEF

#[test]
fn header_escaping_handles_every_hostile_char() {
    assert_eq!(
        cef::escape_header(HOSTILE),
        "a\\|b=c\\\\d\"e]f[g h i é 日本 end"
    );
    assert_eq!(cef::escape_header("x\ty\0z\u{1b}"), "x y z ");
    assert_eq!(cef::escape_header("\\|"), "\\\\\\|");
}

#[test]
fn extension_escaping_handles_every_hostile_char_and_round_trips() {
    assert_eq!(
        cef::escape_extension(HOSTILE),
        "a|b\\=c\\\\d\"e]f[g\\nh\\ri é 日本 end"
    );
    for s in [
        HOSTILE,
        "\\",
        "=",
        "\\=",
        "\\n",
        "ends with \\",
        "k=v x=y",
        "日本=é",
    ] {
        let escaped = cef::escape_extension(s);
        assert!(!escaped.contains('\n') && !escaped.contains('\r'));
        assert_eq!(unescape_extension(&escaped), s, "{s:?}");
        let line = format!("a=1 b={escaped} c=3");
        let parsed = parse_extension(&line);
        assert_eq!(parsed["b"], s);
        assert_eq!(parsed["c"], "3");
    }
    // Other control characters never reach the wire.
    assert_eq!(cef::escape_extension("a\tb\0c\u{85}d"), "a b c d");
}

#[test]
fn cef_finding_line_reads_back_exactly() {
    let rec = finding_record();
    let line = cef::event(&rec, &src());
    assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
    assert!(line.contains("日本"), "non-ASCII passes through");
    let (header, ext) = parse_cef(&line);
    assert_eq!(
        header[..5],
        ["CEF:0", "Palisade", "Palisade", "0.1.0", "bola_enumeration"]
    );
    assert_eq!(
        header[5],
        format!("Enumeration {HOSTILE}").replace(['\n', '\r'], " ")
    );
    assert_eq!(header[6], "8");

    let SiemEvent::Finding { finding } = &rec.event else {
        unreachable!()
    };
    let req = finding.request.as_ref().unwrap();
    assert_eq!(ext["rt"], "1700000000123");
    assert_eq!(ext["dvchost"], "edge-1");
    assert_eq!(ext["externalId"], "store1-7");
    assert_eq!(ext["act"], "alert");
    assert_eq!(ext["outcome"], "detected");
    assert_eq!(ext["src"], "203.0.113.7");
    assert_eq!(ext["spt"], "51234");
    assert_eq!(ext["suser"], HOSTILE);
    assert_eq!(ext["requestMethod"], "GET");
    assert_eq!(ext["request"], &*req.path);
    assert_eq!(
        ext["requestClientApplication"],
        req.user_agent.as_deref().unwrap()
    );
    assert_eq!(ext["msg"], &*finding.summary);
    assert_eq!(ext["start"], "1700000000000");
    assert_eq!(ext["end"], "1700000060000");
    assert_eq!(
        (ext["cn1"].as_str(), ext["cn1Label"].as_str()),
        ("87", "confidence")
    );
    assert_eq!(
        (ext["cs1"].as_str(), ext["cs1Label"].as_str()),
        ("bola_enumeration", "kind")
    );
    assert_eq!(ext["cs2"], finding.endpoint.as_deref().unwrap());
    assert_eq!(ext["cs3"], finding.id.to_string());
    assert_eq!(
        ext["cs4"],
        format!("distinct_ids=57 rate=12.5 template={HOSTILE}"),
        "arrays are left out"
    );
    assert!(!ext.contains_key("cs5") && !ext.contains_key("cs6"));
}

#[test]
fn cef_name_is_cut_and_request_falls_back_to_the_endpoint() {
    let mut f = finding_with(&"x".repeat(300), "t");
    f.request = None;
    f.client = FindingClient {
        ip: None,
        subject: None,
        api_key_id: Some("k1".into()),
    };
    f.endpoint = Some("POST /login".into());
    let line = cef::event(&record(SiemEvent::Finding { finding: f }), &src());
    let (header, ext) = parse_cef(&line);
    assert_eq!(header[5].chars().count(), 128);
    assert_eq!(ext["requestMethod"], "POST");
    assert_eq!(ext["request"], "/login");
    assert_eq!(ext["suser"], "api_key:k1");
    assert!(!ext.contains_key("spt") && !ext.contains_key("src"));
}

#[test]
fn cef_blocks_unblocks_and_denied_summaries() {
    let (h, ext) = parse_cef(&cef::event(&block_record(), &src()));
    assert_eq!(
        (h[4].as_str(), h[5].as_str(), h[6].as_str()),
        ("block", "Client blocked", "7")
    );
    assert_eq!(ext["act"], "block");
    assert_eq!(ext["src"], "203.0.113.7");
    assert_eq!(ext["reason"], format!("bola {HOSTILE}"));
    assert_eq!(ext["cs5"], "ip:203.0.113.7");
    assert_eq!(ext["cs6"], "9");
    assert_eq!(
        ext["cs3"],
        FindingId::new(1_700_000_000_000, 42).to_string()
    );
    assert_eq!(ext["start"], "1700000000100");
    assert_eq!(ext["end"], "1700003600100");
    assert_eq!(ext["flexString1"], "analytics");
    assert_eq!(ext["flexString2"], "analytics");

    let (h, ext) = parse_cef(&cef::event(&unblock_record(false), &src()));
    assert_eq!((h[4].as_str(), h[6].as_str()), ("unblock", "3"));
    assert_eq!(
        (ext["act"].as_str(), ext["outcome"].as_str()),
        ("unblock", "removed")
    );
    assert_eq!(ext["suser"], "api_key:key-1");
    assert_eq!(ext["reason"], HOSTILE);
    let (_, ext) = parse_cef(&cef::event(&unblock_record(true), &src()));
    assert_eq!(ext["outcome"], "expired");

    let (h, ext) = parse_cef(&cef::event(&denied_record(), &src()));
    assert_eq!(
        (h[4].as_str(), h[5].as_str(), h[6].as_str()),
        ("denied_summary", "Denied requests summary", "5")
    );
    assert_eq!(ext["cnt"], "12");
    assert_eq!(ext["cs4"], "blocked=3 rate_limited=9");
    assert_eq!(ext["cs4Label"], "deniedByReason");
}

#[test]
fn severity_tables() {
    let sev = |s| {
        let mut f = finding_with("s", "t");
        f.severity = s;
        record(SiemEvent::Finding { finding: f })
    };
    let table: Vec<(u8, u8, u8)> = Severity::ALL
        .into_iter()
        .map(|s| {
            let r = sev(s);
            (cef_severity(&r), syslog_severity(&r), ocsf_severity_id(&r))
        })
        .collect();
    assert_eq!(
        table,
        [(1, 6, 1), (3, 5, 2), (5, 4, 3), (8, 3, 4), (10, 2, 5)]
    );
    let r = block_record();
    assert_eq!(
        (cef_severity(&r), syslog_severity(&r), ocsf_severity_id(&r)),
        (7, 4, 3)
    );
    let r = unblock_record(false);
    assert_eq!(
        (cef_severity(&r), syslog_severity(&r), ocsf_severity_id(&r)),
        (3, 5, 1)
    );
    let r = denied_record();
    assert_eq!(
        (cef_severity(&r), syslog_severity(&r), ocsf_severity_id(&r)),
        (5, 5, 2)
    );
}

#[test]
fn evidence_summary_is_bounded_and_keeps_whole_pairs() {
    let mut ev = serde_json::Map::new();
    for i in 0..100 {
        ev.insert(format!("key{i:03}"), json!("v".repeat(20)));
    }
    let s = evidence_summary(&ev, EVIDENCE_SUMMARY_MAX);
    assert!(s.chars().count() <= EVIDENCE_SUMMARY_MAX);
    assert!(s.split(' ').all(|p| p.len() == "key000=".len() + 20));
    let mut one = serde_json::Map::new();
    one.insert("k".into(), json!("日".repeat(600)));
    assert_eq!(evidence_summary(&one, 512).chars().count(), 512);
}

// ---------------------------------------------------------------------------
// Syslog

/// The parts of an RFC 5424 message.
#[derive(Debug)]
struct Parsed {
    pri: u16,
    timestamp: String,
    hostname: String,
    app_name: String,
    procid: String,
    msgid: String,
    sd_id: String,
    params: BTreeMap<String, String>,
    msg: String,
}

#[allow(clippy::unwrap_used)]
fn parse_5424(bytes: &[u8]) -> Parsed {
    let text = std::str::from_utf8(bytes).unwrap();
    let rest = text.strip_prefix('<').unwrap();
    let (pri, rest) = rest.split_once(">1 ").unwrap();
    let mut head = rest.splitn(6, ' ');
    let timestamp = head.next().unwrap().to_string();
    let hostname = head.next().unwrap().to_string();
    let app_name = head.next().unwrap().to_string();
    let procid = head.next().unwrap().to_string();
    let msgid = head.next().unwrap().to_string();
    let rest = head.next().unwrap();
    let (sd_id, params, msg) = parse_sd(rest);
    Parsed {
        pri: pri.parse().unwrap(),
        timestamp,
        hostname,
        app_name,
        procid,
        msgid,
        sd_id,
        params,
        msg: msg.to_string(),
    }
}

/// One SD-ELEMENT `[id k="v" ...]` followed by ` MSG`.
#[allow(clippy::unwrap_used)]
fn parse_sd(s: &str) -> (String, BTreeMap<String, String>, &str) {
    let s = s.strip_prefix('[').unwrap();
    let id_end = s.find([' ', ']']).unwrap();
    let id = s[..id_end].to_string();
    let mut params = BTreeMap::new();
    let mut chars = s[id_end..].char_indices();
    loop {
        let (i, c) = chars.next().unwrap();
        match c {
            ']' => {
                let msg = s[id_end + i + 1..].strip_prefix(' ').unwrap();
                return (id, params, msg);
            }
            ' ' => {
                let mut name = String::new();
                loop {
                    let (_, c) = chars.next().unwrap();
                    if c == '=' {
                        break;
                    }
                    name.push(c);
                }
                assert_eq!(chars.next().unwrap().1, '"');
                let mut value = String::new();
                loop {
                    match chars.next().unwrap().1 {
                        '\\' => value.push(chars.next().unwrap().1),
                        '"' => break,
                        ']' => panic!("unescaped ] in {name}"),
                        c => value.push(c),
                    }
                }
                params.insert(name, value);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn opts(facility: u8, app: &str) -> SyslogOptions {
    SyslogOptions {
        facility,
        app_name: app.into(),
    }
}

#[test]
fn syslog_message_is_one_rfc5424_line_that_parses_back() {
    let rec = finding_record();
    let bytes = syslog::message(&rec, &src(), &opts(16, "palisade"));
    assert!(!bytes.contains(&b'\n') && !bytes.contains(&b'\r'));
    assert!(!bytes.starts_with(&[0xEF, 0xBB, 0xBF]));
    let p = parse_5424(&bytes);
    assert_eq!(p.pri, 16 * 8 + 3, "local0, high finding = error");
    assert_eq!(p.timestamp, "2023-11-14T22:13:20.123Z");
    assert_eq!(p.hostname, "edge-1");
    assert_eq!(p.app_name, "palisade");
    assert_eq!(p.procid, "-");
    assert_eq!(p.msgid, "finding");
    assert_eq!(p.sd_id, "palisade@32473");
    assert_eq!(p.msg, cef::event(&rec, &src()));

    let flat = HOSTILE.replace(['\n', '\r'], " ");
    let params = &p.params;
    assert_eq!(params["id"], "store1-7");
    assert_eq!(params["type"], "finding");
    assert_eq!(params["kind"], "bola_enumeration");
    assert_eq!(params["severity"], "high");
    assert_eq!(params["action"], "alert");
    assert_eq!(params["confidence"], "87");
    assert_eq!(params["client_ip"], "203.0.113.7");
    assert_eq!(params["client_port"], "51234");
    assert_eq!(params["client_subject"], flat);
    assert_eq!(params["endpoint"], format!("GET /users/{{id}}{flat}"));
    assert_eq!(params["path"], format!("/users/42{flat}"));
    assert_eq!(params["status"], "404");
    assert_eq!(params["user_agent"], format!("curl/8 {flat}"));
    assert_eq!(
        params["finding_id"],
        FindingId::new(1_700_000_000_000, 42).to_string()
    );
    assert_eq!(params["window_start"], "2023-11-14T22:13:20.000Z");
    assert_eq!(params["window_end"], "2023-11-14T22:14:20.000Z");
}

#[test]
fn syslog_params_escape_quote_backslash_and_bracket() {
    assert_eq!(
        syslog::escape_param("a\"b\\c]d[e\nf日本"),
        "a\\\"b\\\\c\\]d[e f日本"
    );
}

#[test]
fn syslog_blocks_unblocks_and_denied_summaries() {
    let o = opts(1, "palisade");
    let p = parse_5424(&syslog::message(&block_record(), &src(), &o));
    assert_eq!((p.pri, p.msgid.as_str()), (8 + 4, "block"));
    assert_eq!(p.params["block_id"], "9");
    assert_eq!(p.params["scope"], "ip:203.0.113.7");
    assert_eq!(p.params["origin"], "analytics");
    assert_eq!(p.params["expires"], "2023-11-14T23:13:20.100Z");
    assert_eq!(p.params["actor"], "analytics");
    assert_eq!(p.params["action"], "block");
    assert_eq!(
        p.params["reason"],
        format!("bola {}", HOSTILE.replace(['\n', '\r'], " "))
    );

    let p = parse_5424(&syslog::message(&unblock_record(true), &src(), &o));
    assert_eq!((p.pri, p.msgid.as_str()), (8 + 5, "unblock"));
    assert_eq!(p.params["client_api_key"], "key-1");
    assert_eq!(p.params["reason"], "expired");

    let p = parse_5424(&syslog::message(&denied_record(), &src(), &o));
    assert_eq!((p.pri, p.msgid.as_str()), (8 + 5, "denied"));
    assert_eq!(p.params["total"], "12");
    assert_eq!(p.params["by_reason"], "blocked=3 rate_limited=9");
}

#[test]
fn syslog_header_fields_are_printable_ascii_within_limits() {
    let mut s = src();
    s.hostname = "my host\n日本".into();
    let p = parse_5424(&syslog::message(
        &denied_record(),
        &s,
        &opts(200, &"a".repeat(60)),
    ));
    assert_eq!(p.hostname, "my_host___");
    assert_eq!(p.app_name, "a".repeat(48));
    assert_eq!(p.pri, 23 * 8 + 5, "facility clamps to 23");

    s.hostname = "".into();
    let p = parse_5424(&syslog::message(&denied_record(), &s, &opts(0, "")));
    assert_eq!((p.hostname.as_str(), p.app_name.as_str()), ("-", "-"));
    s.hostname = "h".repeat(300).into();
    let p = parse_5424(&syslog::message(&denied_record(), &s, &opts(0, "x")));
    assert_eq!(p.hostname.len(), 255);
}

#[test]
fn timestamps_are_rfc3339_millis_and_clamped() {
    assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(rfc3339_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    assert_eq!(rfc3339_ms(u64::MAX), "9999-12-31T23:59:59.999Z");
}

#[test]
fn octet_frame_prefixes_the_byte_length() {
    assert_eq!(syslog::octet_frame(b"hello"), b"5 hello");
    assert_eq!(syslog::octet_frame("日本".as_bytes()), "6 日本".as_bytes());
    let msg = syslog::message(&finding_record(), &src(), &opts(16, "palisade"));
    let framed = syslog::octet_frame(&msg);
    let prefix = format!("{} ", msg.len());
    assert!(framed.starts_with(prefix.as_bytes()));
    assert_eq!(&framed[prefix.len()..], &msg[..]);
}

#[test]
fn no_format_emits_a_raw_line_break() {
    for rec in all_records() {
        let cef = cef::event(&rec, &src());
        assert!(!cef.contains(['\n', '\r']), "{cef}");
        let msg = syslog::message(&rec, &src(), &opts(16, "palisade"));
        assert!(!msg.contains(&b'\n') && !msg.contains(&b'\r'));
        for schema in [Schema::Ocsf, Schema::Ecs, Schema::Native] {
            let text = document(schema, &rec, &src()).to_string();
            assert!(!text.contains(['\n', '\r']));
        }
    }
}

// ---------------------------------------------------------------------------
// OCSF

#[test]
fn ocsf_finding_has_the_detection_finding_fields() {
    let rec = finding_record();
    let d = ocsf::document(&rec, &src());
    assert_eq!(d["class_uid"], 2004);
    assert_eq!(d["class_name"], "Detection Finding");
    assert_eq!(d["category_uid"], 2);
    assert_eq!(d["category_name"], "Findings");
    assert_eq!(d["activity_id"], 1);
    assert_eq!(d["activity_name"], "Create");
    assert_eq!(d["type_uid"], 200_401);
    assert_eq!(d["type_name"], "Detection Finding: Create");
    assert_eq!(d["severity_id"], 4);
    assert_eq!(d["severity"], "High");
    assert_eq!(d["time"], 1_700_000_000_123u64);
    assert_eq!(d["message"], format!("Enumeration {HOSTILE}"));
    assert_eq!(d["status_id"], 1);
    assert_eq!(d["status"], "New");
    assert_eq!(d["confidence_score"], 87);
    assert_eq!(d["is_alert"], true);
    assert_eq!(d["start_time"], 1_700_000_000_000u64);
    assert_eq!(d["end_time"], 1_700_000_060_000u64);

    let info = &d["finding_info"];
    assert_eq!(
        info["uid"],
        FindingId::new(1_700_000_000_000, 42).to_string()
    );
    assert_eq!(info["title"], format!("Enumeration {HOSTILE}"));
    assert_eq!(info["desc"], format!("Enumeration {HOSTILE}"));
    assert_eq!(info["types"], json!(["bola_enumeration"]));
    assert_eq!(info["created_time"], 1_700_000_000_123u64);
    assert_eq!(info["first_seen_time"], 1_700_000_000_000u64);
    assert_eq!(info["last_seen_time"], 1_700_000_060_000u64);
    assert_eq!(info["analytic"]["type_id"], 2);
    assert_eq!(info["analytic"]["name"], "bola_enumeration");

    let ev = &d["evidences"][0];
    assert_eq!(ev["http_request"]["http_method"], "GET");
    assert_eq!(
        ev["http_request"]["url"]["path"],
        format!("/users/42{HOSTILE}")
    );
    assert_eq!(
        ev["http_request"]["user_agent"],
        format!("curl/8 {HOSTILE}")
    );
    assert_eq!(ev["http_response"]["code"], 404);
    assert_eq!(ev["src_endpoint"]["ip"], "203.0.113.7");
    assert_eq!(ev["src_endpoint"]["port"], 51234);
    assert_eq!(ev["actor"]["user"]["uid"], HOSTILE);
    assert_eq!(ev["data"]["distinct_ids"], 57);

    assert_eq!(
        d["resources"][0]["name"],
        format!("GET /users/{{id}}{HOSTILE}")
    );
    assert_eq!(d["observables"][0]["type_id"], 2);
    assert_eq!(d["observables"][0]["name"], "evidences[0].src_endpoint.ip");
    assert_eq!(d["observables"][0]["value"], "203.0.113.7");

    let m = &d["metadata"];
    assert_eq!(m["version"], "1.4.0");
    assert_eq!(m["uid"], "store1-7");
    assert_eq!(m["logged_time"], 1_700_000_000_123u64);
    assert_eq!(m["product"]["name"], "Palisade");
    assert_eq!(m["product"]["vendor_name"], "Palisade");
    assert_eq!(m["product"]["version"], "0.1.0");
    assert_eq!(d["unmapped"]["palisade_kind"], "bola_enumeration");
    assert_eq!(
        d["unmapped"]["palisade_endpoint"],
        format!("GET /users/{{id}}{HOSTILE}")
    );
}

#[test]
fn ocsf_blocks_update_and_unblocks_close() {
    let d = ocsf::document(&block_record(), &src());
    assert_eq!(
        (d["activity_id"].clone(), d["type_uid"].clone()),
        (json!(2), json!(200_402))
    );
    assert_eq!(
        (d["status_id"].clone(), d["status"].clone()),
        (json!(2), json!("In Progress"))
    );
    assert_eq!(d["severity_id"], 3);
    assert_eq!(
        d["finding_info"]["uid"],
        FindingId::new(1_700_000_000_000, 42).to_string()
    );
    assert_eq!(d["finding_info"]["types"], json!(["block"]));
    assert!(
        d["remediation"]["desc"]
            .as_str()
            .unwrap()
            .contains("ip:203.0.113.7")
    );
    assert_eq!(d["evidences"][0]["src_endpoint"]["ip"], "203.0.113.7");
    assert_eq!(d["unmapped"]["palisade_block_id"], 9);
    assert_eq!(d["unmapped"]["palisade_block_scope"], "ip:203.0.113.7");
    assert!(d.get("is_alert").is_none());

    let d = ocsf::document(&unblock_record(false), &src());
    assert_eq!(
        (d["activity_id"].clone(), d["type_uid"].clone()),
        (json!(3), json!(200_403))
    );
    assert_eq!(
        (d["status_id"].clone(), d["status"].clone()),
        (json!(4), json!("Resolved"))
    );
    assert_eq!(d["status_detail"], HOSTILE);
    assert_eq!(
        d["finding_info"]["uid"], "store1-7",
        "no finding: the record id"
    );
    assert_eq!(
        d["evidences"][0]["actor"]["user"]["credential_uid"],
        "key-1"
    );
}

#[test]
fn ocsf_denied_summary_is_a_finding_with_a_count() {
    let d = ocsf::document(&denied_record(), &src());
    assert_eq!(d["class_uid"], 2004);
    assert_eq!(d["type_uid"], 200_401);
    assert_eq!(d["count"], 12);
    assert_eq!(d["severity_id"], 2);
    assert_eq!(d["finding_info"]["title"], "Denied requests summary");
    assert_eq!(d["finding_info"]["uid"], "store1-7");
    assert_eq!(d["message"], "12 requests denied: blocked=3 rate_limited=9");
    assert_eq!(
        d["unmapped"]["palisade_denied_by_reason"]["rate_limited"],
        9
    );
    assert!(d.get("evidences").is_none());
}

// ---------------------------------------------------------------------------
// ECS

/// Asserts no object key below the top holds a dot (ECS documents are nested).
fn assert_nested(v: &Value, path: &str) {
    if let Value::Object(map) = v {
        for (k, child) in map {
            assert!(
                !k.contains('.') || (path.is_empty() && k == "@timestamp"),
                "dotted key {path}.{k}"
            );
            assert_nested(child, &format!("{path}.{k}"));
        }
    }
}

#[test]
fn ecs_finding_has_nested_fields() {
    let d = ecs::document(&finding_record(), &src());
    assert_nested(&d, "");
    assert_eq!(d["@timestamp"], "2023-11-14T22:13:20.123Z");
    assert_eq!(d["ecs"]["version"], "8.11.0");
    assert_eq!(d["message"], format!("Enumeration {HOSTILE}"));
    let e = &d["event"];
    assert_eq!(e["kind"], "alert");
    assert_eq!(e["category"], json!(["api", "intrusion_detection"]));
    assert_eq!(e["type"], json!(["info"]));
    assert_eq!(e["id"], "store1-7");
    assert_eq!(e["severity"], 8);
    assert_eq!(e["action"], "bola_enumeration");
    assert_eq!(e["dataset"], "palisade.finding");
    assert_eq!(e["created"], "2023-11-14T22:13:20.123Z");
    assert_eq!(e["start"], "2023-11-14T22:13:20.000Z");
    assert_eq!(e["end"], "2023-11-14T22:14:20.000Z");
    assert_eq!(d["rule"]["id"], "bola_enumeration");
    assert_eq!(d["rule"]["name"], "bola_enumeration");
    assert_eq!(d["rule"]["category"], "behavioral");
    assert_eq!(d["http"]["request"]["method"], "GET");
    assert_eq!(d["http"]["response"]["status_code"], 404);
    assert_eq!(d["url"]["path"], format!("/users/42{HOSTILE}"));
    assert_eq!(d["url"]["original"], format!("/users/42{HOSTILE}"));
    assert_eq!(d["source"]["ip"], "203.0.113.7");
    assert_eq!(d["source"]["port"], 51234);
    assert_eq!(d["user"]["id"], HOSTILE);
    assert_eq!(d["user_agent"]["original"], format!("curl/8 {HOSTILE}"));
    assert_eq!(d["related"]["ip"], json!(["203.0.113.7"]));
    let o = &d["observer"];
    assert_eq!(
        (o["name"].as_str(), o["type"].as_str()),
        (Some("edge-1"), Some("waf"))
    );
    assert_eq!(
        (o["product"].as_str(), o["vendor"].as_str()),
        (Some("Palisade"), Some("Palisade"))
    );
    assert_eq!(o["version"], "0.1.0");
    assert_eq!(
        d["labels"]["palisade_endpoint"],
        format!("GET /users/{{id}}{HOSTILE}")
    );
    assert_eq!(
        d["labels"]["palisade_finding_id"],
        FindingId::new(1_700_000_000_000, 42).to_string()
    );
    let evidence: Value =
        serde_json::from_str(d["palisade"]["evidence"].as_str().expect("evidence text"))
            .expect("evidence JSON");
    assert_eq!(evidence["distinct_ids"], 57);
}

#[test]
fn ecs_blocks_unblocks_and_denied_summaries() {
    let d = ecs::document(&block_record(), &src());
    assert_nested(&d, "");
    assert_eq!(d["event"]["kind"], "event");
    assert_eq!(d["event"]["type"], json!(["denied"]));
    assert_eq!(d["event"]["outcome"], "success");
    assert_eq!(d["event"]["action"], "block");
    assert_eq!(d["event"]["dataset"], "palisade.block");
    assert_eq!(d["event"]["severity"], 7);
    assert_eq!(d["event"]["end"], "2023-11-14T23:13:20.100Z");
    assert_eq!(d["source"]["ip"], "203.0.113.7");
    assert_eq!(d["palisade"]["block"]["scope"], "ip:203.0.113.7");
    assert!(d.get("rule").is_none());

    let d = ecs::document(&unblock_record(true), &src());
    assert_eq!(d["event"]["type"], json!(["allowed"]));
    assert_eq!(d["event"]["reason"], "expired");
    assert_eq!(d["labels"]["palisade_api_key_id"], "key-1");

    let d = ecs::document(&denied_record(), &src());
    assert_nested(&d, "");
    assert_eq!(d["event"]["kind"], "metric");
    assert_eq!(d["event"]["dataset"], "palisade.denied");
    assert_eq!(d["palisade"]["denied"]["total"], 12);
    assert_eq!(d["palisade"]["denied"]["by_reason"]["blocked"], 3);
}

// ---------------------------------------------------------------------------
// HEC and native

fn hec_opts(schema: Schema, index: Option<&str>) -> HecOptions {
    HecOptions {
        index: index.map(Into::into),
        source: "palisade".into(),
        sourcetype: "palisade:ocsf".into(),
        schema,
    }
}

#[test]
fn hec_envelope_has_time_host_and_fields() {
    let rec = finding_record();
    let e = hec::event(&rec, &src(), &hec_opts(Schema::Ocsf, Some("security")));
    assert_eq!(e["time"].as_f64(), Some(1_700_000_000.123));
    assert!(e.to_string().contains("\"time\":1700000000.123"), "{e}");
    assert_eq!(e["host"], "edge-1");
    assert_eq!(e["source"], "palisade");
    assert_eq!(e["sourcetype"], "palisade:ocsf");
    assert_eq!(e["index"], "security");
    assert_eq!(e["event"], ocsf::document(&rec, &src()));
    assert_eq!(
        e["fields"],
        json!({ "palisade_id": "store1-7", "palisade_type": "finding", "palisade_kind": "bola_enumeration" })
    );
    let e = hec::event(&rec, &src(), &hec_opts(Schema::Ecs, None));
    assert!(e.get("index").is_none());
    assert_eq!(e["event"]["ecs"]["version"], "8.11.0");
}

#[test]
fn hec_batch_concatenates_objects_without_an_array() {
    let o = hec_opts(Schema::Native, None);
    let events = [
        hec::event(&finding_record(), &src(), &o),
        hec::event(&denied_record(), &src(), &o),
    ];
    let body = hec::batch(&events);
    assert_eq!(body.first(), Some(&b'{'));
    assert_eq!(body.iter().filter(|&&b| b == b'\n').count(), 1);
    let back: Vec<Value> = serde_json::Deserializer::from_slice(&body)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(back, events);
    assert!(hec::batch(&[]).is_empty());
}

#[test]
fn native_is_the_record_itself() {
    for rec in all_records() {
        let d = document(Schema::Native, &rec, &src());
        assert_eq!(d, serde_json::to_value(&rec).unwrap());
        let back: SiemRecord = serde_json::from_value(d).unwrap();
        assert_eq!(back, rec);
    }
}

#[test]
fn cut_never_splits_a_character() {
    assert_eq!(cut("日本語", 2), "日本");
    assert_eq!(cut("ab", 5), "ab");
    assert_eq!(cut("", 0), "");
}
