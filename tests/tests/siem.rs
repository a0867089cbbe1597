//! SIEM forwarding end to end with real receivers: findings and blocks reach
//! rsyslog as CEF in RFC 5424 over TCP and TLS (every field checked, hostile values
//! included) and syslog-ng parses the structured data; a receiver that goes away
//! and comes back misses nothing; and records in the outbox when Palisade is
//! killed with SIGKILL arrive after the restart.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use http::StatusCode;
use palisade_models::{
    Finding, FindingClient, FindingId, FindingKind, FindingRequest, Severity, SiemCategory, unix_ms,
};
use palisade_store::Store;
use palisade_tests::PROBES;
use palisade_tests::binary::Running;
use palisade_tests::sidecar::Sidecar;
use palisade_tests::syslog::{Rsyslog, ServerTls, SyslogNg};
use palisade_tests::tls::Pki;
use palisade_tests::upstream::Upstream;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);
/// What a client may put in its User-Agent that CEF must escape.
const HOSTILE_UA: &str = r"scanner|v=1\x";
/// What a finding's free text may hold: every character a format escapes.
const HOSTILE: &str = "a|b=c\\d\"e]f[g\nh\ri é 日本";

/// A CEF line's header fields and extensions, unescaped.
#[derive(Debug)]
struct Cef {
    header: Vec<String>,
    ext: BTreeMap<String, String>,
}

fn cef(line: &str) -> Cef {
    let body = line.strip_prefix("CEF:").expect("a CEF line");
    let mut header = Vec::new();
    let mut cur = String::new();
    let mut chars = body.chars();
    while header.len() < 7 {
        match chars.next().expect("seven header fields") {
            '\\' => cur.push(chars.next().unwrap()),
            '|' => header.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    let mut ext = BTreeMap::new();
    let mut key: Option<String> = None;
    let mut buf = String::new();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => buf.push('\n'),
                Some('r') => buf.push('\r'),
                Some(x) => buf.push(x),
                None => {}
            },
            '=' => {
                let (value, next) = match buf.rfind(' ') {
                    Some(i) => (buf[..i].to_string(), buf[i + 1..].to_string()),
                    None => (String::new(), buf.clone()),
                };
                if let Some(k) = key.take() {
                    ext.insert(k, value);
                }
                key = Some(next);
                buf.clear();
            }
            c => buf.push(c),
        }
    }
    if let Some(k) = key {
        ext.insert(k, buf);
    }
    Cef { header, ext }
}

fn hostile_finding(now: u64) -> Finding {
    let mut evidence = serde_json::Map::new();
    evidence.insert("distinct_ids".into(), 42.into());
    Finding {
        instance: None,
        id: FindingId::new(now, 77),
        kind: FindingKind::BolaEnumeration,
        severity: Severity::Critical,
        confidence: 0.9,
        client: FindingClient {
            ip: Some("198.51.100.7".parse().unwrap()),
            subject: Some(format!("user {HOSTILE}").into()),
            api_key_id: None,
        },
        endpoint: Some("GET /api/orders/{id}".into()),
        window_start_ms: now - 60_000,
        window_end_ms: now,
        summary: format!("walked orders {HOSTILE}").into(),
        evidence,
        request: Some(FindingRequest {
            method: "GET".into(),
            path: format!("/api/orders/{HOSTILE}").into(),
            status: 200,
            peer_port: 50_123,
            user_agent: Some(format!("ua {HOSTILE}").into()),
        }),
    }
}

/// A sidecar forwarding to `sinks`, with the hostile finding stored (and so
/// queued for them); the upstream and sidecar live as long as the tuple.
async fn queue_crafted(sinks: &str) -> (Upstream, Sidecar, Finding) {
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let side = Sidecar::start(&up.url(), sinks);
    let crafted = hostile_finding(now_ms());
    side.palisade
        .store()
        .insert_findings(std::slice::from_ref(&crafted))
        .unwrap();
    (up, side, crafted)
}

fn now_ms() -> u64 {
    unix_ms(std::time::SystemTime::now())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_and_blocks_reach_rsyslog_over_tcp_and_tls_and_syslog_ng_parses_them() {
    let pki = Pki::new();
    let rsyslog = Rsyslog::start(Some(&ServerTls {
        cert: pki.cert_path.clone(),
        key: pki.key_path.clone(),
        ca: pki.ca_path.clone(),
        require_client_cert: false,
    }))
    .unwrap();
    let ng = SyslogNg::start().unwrap();
    let up = Upstream::fixed(StatusCode::NOT_FOUND, "no").await;
    let sink = |name: &str, addr: String, extra: &str| {
        format!(
            "[[siem.sinks]]\nname = \"{name}\"\ntype = \"syslog\"\naddress = \"{addr}\"\n\
             app_name = \"{name}\"\nforward = [\"findings\", \"blocks\"]\n\
             backoff_min = \"50ms\"\nbackoff_max = \"500ms\"\n{extra}"
        )
    };
    let config = [
        sink("palisade-tcp", rsyslog.tcp.to_string(), ""),
        sink(
            "palisade-tls",
            rsyslog.tls.unwrap().to_string(),
            &format!(
                "transport = \"tls\"\nca_file = \"{}\"\nserver_name = \"localhost\"\n",
                pki.ca_path.display()
            ),
        ),
        sink("palisade-ng", ng.tcp.to_string(), "facility = \"auth\"\n"),
    ]
    .concat();
    let side = Sidecar::start(&up.url(), &config);

    // A real detection: three probes from a client with a hostile user agent.
    let c = reqwest::Client::new();
    for p in PROBES {
        c.get(side.url(p))
            .header("user-agent", HOSTILE_UA)
            .send()
            .await
            .unwrap();
    }
    // And a finding whose every free-text field is hostile, through the same
    // store and outbox.
    let crafted = hostile_finding(now_ms());
    side.palisade
        .store()
        .insert_findings(std::slice::from_ref(&crafted))
        .unwrap();

    // Probing finding, its block and the crafted finding, on each of two inputs.
    rsyslog.wait_for(6, WAIT).await.unwrap();
    let ng_messages = ng.wait_for(3, WAIT).await.unwrap();
    let parsed = rsyslog.parsed();
    let raw = rsyslog.messages();
    assert!(
        raw.iter().all(|m| !m.contains('\n') && !m.contains("#012")),
        "no line break reached the wire: {raw:#?}"
    );

    for app in ["palisade-tcp", "palisade-tls"] {
        let mine: Vec<&Value> = parsed.iter().filter(|p| p["app_name"] == app).collect();
        let by_kind = |kind: &str| -> (Cef, &Value) {
            let p = mine
                .iter()
                .find(|p| {
                    cef(p["msg"].as_str().unwrap())
                        .ext
                        .get("cs1")
                        .map(String::as_str)
                        == Some(kind)
                })
                .unwrap_or_else(|| panic!("no {kind} message from {app}: {mine:#?}"));
            (cef(p["msg"].as_str().unwrap()), *p)
        };

        // The crafted finding: every field, hostile values intact.
        let (f, p) = by_kind("bola_enumeration");
        assert_eq!(p["version"], 1);
        assert_eq!(p["msgid"], "finding");
        assert_eq!(p["pri"], 16 * 8 + 2, "local0.crit");
        assert_eq!(f.header[0], "0");
        assert_eq!(f.header[1], "Palisade");
        assert_eq!(f.header[4], "bola_enumeration");
        assert_eq!(f.header[6], "10", "critical");
        let e = &f.ext;
        assert_eq!(e["rt"], crafted.window_end_ms.to_string());
        assert_eq!(e["src"], "198.51.100.7");
        assert_eq!(e["spt"], "50123");
        assert_eq!(e["suser"], format!("user {HOSTILE}"));
        assert_eq!(e["requestMethod"], "GET");
        assert_eq!(e["request"], format!("/api/orders/{HOSTILE}"));
        assert_eq!(e["requestClientApplication"], format!("ua {HOSTILE}"));
        assert_eq!(e["act"], "alert");
        assert_eq!(
            (e["cs1Label"].as_str(), e["cs1"].as_str()),
            ("kind", "bola_enumeration")
        );
        assert_eq!(e["cs2Label"], "endpoint");
        assert_eq!(e["cs2"], "GET /api/orders/{id}");
        assert_eq!(e["cs3Label"], "findingId");
        assert_eq!(e["cs3"], crafted.id.to_string());
        assert_eq!(e["cs4Label"], "evidence");
        assert!(e["cs4"].contains("distinct_ids=42"), "{}", e["cs4"]);
        assert!(!e["externalId"].is_empty());
        let sd = &p["sd"]["palisade@32473"];
        assert_eq!(sd["finding_id"], crafted.id.to_string());
        assert_eq!(sd["kind"], "bola_enumeration");
        assert_eq!(sd["client_ip"], "198.51.100.7");
        assert_eq!(sd["id"], e["externalId"].as_str());

        // The real detection and the block it caused.
        let (probe, _) = by_kind("probing");
        assert_eq!(probe.ext["src"], "127.0.0.1");
        assert_eq!(probe.ext["requestClientApplication"], HOSTILE_UA);
        assert_eq!(probe.ext["requestMethod"], "GET");
        assert!(PROBES.contains(&probe.ext["request"].as_str()));
        assert_ne!(probe.ext["spt"], "0");
        let (block, bp) = by_kind("block");
        assert_eq!(bp["msgid"], "block");
        assert_eq!(block.ext["act"], "block");
        assert_eq!(block.ext["cs5"], "ip:127.0.0.1");
    }

    // syslog-ng's own RFC 5424 parser agrees on the structured data.
    let crafted_ng = ng_messages
        .iter()
        .find(|m| m["_SDATA"]["palisade@32473"]["finding_id"] == crafted.id.to_string())
        .unwrap_or_else(|| panic!("{ng_messages:#?}"));
    let sd = &crafted_ng["_SDATA"]["palisade@32473"];
    assert_eq!(crafted_ng["MSGID"], "finding");
    assert_eq!(crafted_ng["PROGRAM"], "palisade-ng");
    assert_eq!(crafted_ng["FACILITY"], "auth");
    assert_eq!(sd["kind"], "bola_enumeration");
    assert_eq!(sd["severity"], "critical");
    assert_eq!(sd["client_ip"], "198.51.100.7");
    assert_eq!(sd["endpoint"], "GET /api/orders/{id}");
    assert_eq!(sd["method"], "GET");
    // SD values cannot carry line breaks (RFC 5424 has no escape for them): they
    // become spaces; `"`, `\` and `]` come back exact.
    assert_eq!(
        sd["user_agent"],
        format!("ua {}", HOSTILE.replace(['\n', '\r'], " "))
    );
    let msg = cef(crafted_ng["MESSAGE"].as_str().unwrap());
    assert_eq!(msg.ext["suser"], format!("user {HOSTILE}"));

    // The status the API shows, once the outbox has been told (after the
    // receivers had the records).
    let siem = side.palisade.siem().clone();
    assert_eq!(siem.status().sinks.len(), 3);
    palisade_tests::eventually("every sink counts three deliveries", || {
        siem.status()
            .sinks
            .iter()
            .all(|s| s.delivered >= 3 && s.healthy)
    })
    .await;
}

/// Records a sink sent, by their CEF externalId, from rsyslog's file.
fn received_ids(rsyslog: &Rsyslog) -> BTreeSet<String> {
    rsyslog
        .parsed()
        .iter()
        .filter_map(|p| p["msg"].as_str())
        .filter_map(|m| cef(m).ext.get("externalId").cloned())
        .collect()
}

async fn wait_ids(rsyslog: &Rsyslog, want: &BTreeSet<String>, log: impl Fn() -> String) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let got = received_ids(rsyslog);
        if want.is_subset(&got) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "missing {:?}\n{}",
            want.difference(&got).collect::<Vec<_>>(),
            log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_syslog_receiver_that_restarts_misses_nothing() {
    let mut rsyslog = Rsyslog::start(None).unwrap();
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let side = Sidecar::start(
        &up.url(),
        &format!(
            "[[siem.sinks]]\nname = \"soc\"\ntype = \"syslog\"\naddress = \"{}\"\n\
             backoff_min = \"20ms\"\nbackoff_max = \"200ms\"\n",
            rsyslog.tcp
        ),
    );
    let store = side.palisade.store().clone();
    let queue = |from: u128, n: u128| {
        let now = now_ms();
        let fs: Vec<_> = (from..from + n)
            .map(|i| {
                let mut f = hostile_finding(now);
                f.id = FindingId::new(now, i);
                f
            })
            .collect();
        store.insert_findings(&fs).unwrap();
    };
    let id_of = |seq: u64| -> String {
        let first = received_ids(&rsyslog).into_iter().next().unwrap();
        format!("{}-{seq}", first.rsplit_once('-').unwrap().0)
    };

    // Five delivered over a live connection...
    queue(0, 5);
    rsyslog.wait_for(5, WAIT).await.unwrap();
    let want: BTreeSet<String> = (1..=15).map(id_of).collect();
    // ...the receiver goes away (its connection closes), ten more happen...
    rsyslog.stop();
    queue(100, 10);
    // ...and it comes back on the same port: all fifteen are there, none missing.
    rsyslog.restart().unwrap();
    wait_ids(&rsyslog, &want, || {
        format!("{:?}", side.palisade.siem().status())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_in_the_outbox_at_kill_9_arrive_after_restart() {
    let mut rsyslog = Rsyslog::start(None).unwrap();
    let port = rsyslog.tcp;
    // The receiver is down while Palisade finds and blocks.
    rsyslog.stop();
    let up = Upstream::fixed(StatusCode::NOT_FOUND, "no").await;
    let data = tempfile::tempdir().unwrap();
    let db = data.path().join("palisade.redb");
    let token_file = data.path().join("admin-token");
    std::fs::write(&token_file, format!("{ADMIN_TOKEN}\n")).unwrap();
    let config = format!(
        r#"
        [proxy]
        workers = 1
        listen = ["127.0.0.1:0"]
        [upstream]
        url = "{}"
        [routes]
        unknown = "allow"
        [store]
        path = "{}"
        [log]
        format = "json"
        [[siem.sinks]]
        name = "soc"
        type = "syslog"
        address = "{port}"
        forward = ["findings", "blocks"]
        backoff_min = "20ms"
        backoff_max = "200ms"
        [admin]
        listen = "127.0.0.1:0"
        token_env = "PALISADE_SIEM_TEST_NO_SUCH_VARIABLE"
        token_file = "{}"
        "#,
        up.url(),
        db.display(),
        token_file.display()
    );
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_palisade-e2e"));
    let mut first = Running::start(bin, &config);
    let c = reqwest::Client::new();
    for p in PROBES {
        c.get(format!("http://{}{p}", first.addr))
            .send()
            .await
            .unwrap();
    }
    // Blocked: the finding and the block are stored, and queued.
    let deadline = tokio::time::Instant::now() + WAIT;
    while c
        .get(format!("http://{}/ok", first.addr))
        .send()
        .await
        .unwrap()
        .status()
        != StatusCode::FORBIDDEN
    {
        assert!(tokio::time::Instant::now() < deadline, "{}", first.log());
        tokio::task::yield_now().await;
    }
    first.child.kill().unwrap();
    first.child.wait().unwrap();

    let store = Store::open(&db).unwrap();
    let mask = SiemCategory::Findings.bit() | SiemCategory::Blocks.bit();
    let queued = store.outbox_batch("soc", mask, 100).unwrap().records;
    assert!(
        queued.len() >= 2,
        "a finding and a block were queued: {queued:?}"
    );
    let want: BTreeSet<String> = queued.iter().map(|r| r.id.to_string()).collect();
    drop(store);

    rsyslog.restart().unwrap();
    let second = Running::start(bin, &config);
    wait_ids(&rsyslog, &want, || second.log()).await;
    // The receiver has them; the sidecar removes them from the outbox right
    // after, then counts them delivered. Kill it only once it has counted.
    wait_delivered(&second, "soc", want.len()).await;
    drop(second);
    let store = Store::open(&db).unwrap();
    assert_eq!(
        store.outbox_len().unwrap(),
        0,
        "delivered records leave the outbox"
    );
}

/// The admin token of the sidecars started from a config in this file.
const ADMIN_TOKEN: &str = "siem-test-admin-token-0123456789";

/// Waits until `/metrics` of `run` counts at least `n` records delivered to
/// `sink`: they have left the outbox by then.
async fn wait_delivered(run: &Running, sink: &str, n: usize) {
    let addr = run.admin_addr().await;
    let c = reqwest::Client::new();
    let label = format!("sink=\"{sink}\"");
    palisade_tests::eventually_async("records counted delivered", || {
        let (c, label) = (&c, &label);
        async move {
            let text = c
                .get(format!("http://{addr}/metrics"))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            let delivered: f64 = text
                .lines()
                .find(|l| {
                    l.starts_with("palisade_siem_delivered_records") && l.contains(label.as_str())
                })?
                .rsplit(' ')
                .next()?
                .parse()
                .ok()?;
            (delivered >= n as f64).then_some(())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_requests_are_summarised_per_interval() {
    let rsyslog = Rsyslog::start(None).unwrap();
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let side = Sidecar::start(
        &up.url(),
        &format!(
            "[[blocks]]\nscope = \"ip\"\nvalue = \"127.0.0.1\"\nreason = \"test\"\n\
             [siem]\ndenied_interval = \"1s\"\n\
             [[siem.sinks]]\nname = \"soc\"\ntype = \"syslog\"\naddress = \"{}\"\n\
             forward = [\"denied\"]\n",
            rsyslog.tcp
        ),
    );
    let c = reqwest::Client::new();
    for _ in 0..7 {
        let status = c.get(side.url("/x")).send().await.unwrap().status();
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    // The seven may straddle two intervals: sum what the summaries say.
    let total = |parsed: &[Value]| -> u64 {
        parsed
            .iter()
            .map(|p| {
                cef(p["msg"].as_str().unwrap()).ext["cnt"]
                    .parse::<u64>()
                    .unwrap()
            })
            .sum()
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while total(&rsyslog.parsed()) < 7 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            rsyslog.parsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let parsed = rsyslog.parsed();
    assert_eq!(total(&parsed), 7);
    let p = &parsed[0];
    assert_eq!(p["msgid"], "denied");
    let m = cef(p["msg"].as_str().unwrap());
    assert_eq!(m.header[4], "denied_summary");
    assert!(m.ext["cs4"].starts_with("blocked="), "{m:?}");
    assert_eq!(p["sd"]["palisade@32473"]["total"], m.ext["cnt"].as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_sends_one_message_per_datagram() {
    let rsyslog = Rsyslog::start(None).unwrap();
    let (_up, _side, crafted) = queue_crafted(&format!(
        "[[siem.sinks]]\nname = \"soc-udp\"\ntype = \"syslog\"\ntransport = \"udp\"\n\
         address = \"{}\"\napp_name = \"palisade-udp\"\n",
        rsyslog.udp.unwrap()
    ))
    .await;
    rsyslog.wait_for(1, WAIT).await.unwrap();
    let p = &rsyslog.parsed()[0];
    assert_eq!(p["app_name"], "palisade-udp");
    let m = cef(p["msg"].as_str().unwrap());
    assert_eq!(m.ext["cs3"], crafted.id.to_string());
    assert_eq!(m.ext["suser"], format!("user {HOSTILE}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_client_certificate_reaches_a_receiver_that_requires_one() {
    let (pki, client) = Pki::with_client_cert();
    let rsyslog = Rsyslog::start(Some(&ServerTls {
        cert: pki.cert_path.clone(),
        key: pki.key_path.clone(),
        ca: pki.ca_path.clone(),
        require_client_cert: true,
    }))
    .unwrap();
    let (_up, _side, crafted) = queue_crafted(&format!(
        "[[siem.sinks]]\nname = \"soc-mtls\"\ntype = \"syslog\"\ntransport = \"tls\"\n\
         address = \"{}\"\nserver_name = \"localhost\"\nca_file = \"{}\"\n\
         client_cert_file = \"{}\"\nclient_key_file = \"{}\"\n",
        rsyslog.tls.unwrap(),
        pki.ca_path.display(),
        client.cert_path.display(),
        client.key_path.display()
    ))
    .await;
    rsyslog.wait_for(1, WAIT).await.unwrap();
    let m = cef(rsyslog.parsed()[0]["msg"].as_str().unwrap());
    assert_eq!(m.ext["cs3"], crafted.id.to_string());
}
