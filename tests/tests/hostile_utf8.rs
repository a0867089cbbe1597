//! Invalid UTF-8 everywhere a client can put bytes: raw and percent-encoded
//! invalid sequences, overlong forms and lone surrogates in the path, query
//! names and values, the User-Agent, Cookie, Authorization and X-Forwarded-For
//! headers, JSON keys and values, form bodies and multipart field names. Each
//! request gets its documented answer (forwarded, or 400/403 with a reason),
//! nothing panics, the proxy keeps serving, events carry invalid bytes replaced
//! by U+FFFD, and every log line and every admin API answer stays valid UTF-8
//! JSON.

use std::net::SocketAddr;

use http::StatusCode;
use palisade_tests::binary::Running;
use palisade_tests::eventually;
use palisade_tests::raw;
use palisade_tests::sidecar::{Options, Sidecar};
use palisade_tests::upstream::Upstream;

const TOKEN: &str = "utf8-admin-token-0123456789abcdef";

/// One hostile request: what it is, its raw bytes, and the status it must get.
struct Case {
    what: &'static str,
    bytes: Vec<u8>,
    status: u16,
}

fn get(target: &[u8], headers: &[&[u8]]) -> Vec<u8> {
    let mut out = b"GET ".to_vec();
    out.extend_from_slice(target);
    out.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for h in headers {
        out.extend_from_slice(h);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn post(path: &str, content_type: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\nContent-Type: ",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(content_type);
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
    out
}

fn multipart(name: &[u8]) -> Vec<u8> {
    let mut body = b"--XyZ\r\nContent-Disposition: form-data; name=\"".to_vec();
    body.extend_from_slice(name);
    body.extend_from_slice(b"\"\r\n\r\nvalue \xff\xfe\r\n--XyZ--\r\n");
    post("/api/items", b"multipart/form-data; boundary=XyZ", &body)
}

/// Invalid sequences: a stray continuation byte, bytes never valid (0xfe,
/// 0xff), an overlong '/' and '.', a lone surrogate (U+D800 as UTF-8), a
/// truncated sequence.
const BAD: &[&[u8]] = &[
    b"\x80",
    b"\xfe\xff",
    b"\xc0\xaf",
    b"\xc0\xae",
    b"\xed\xa0\x80",
    b"\xe2\x82",
];
const BAD_PCT: &[&str] = &["%80", "%fe%ff", "%c0%af", "%c0%ae", "%ed%a0%80", "%e2%82"];

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for (raw_seq, pct) in BAD.iter().zip(BAD_PCT) {
        // Raw bytes in the request target are not a URI (RFC 3986): 400 before
        // anything else looks at it.
        let mut target = b"/api/items/".to_vec();
        target.extend_from_slice(raw_seq);
        out.push(Case {
            what: "raw bytes in the path",
            bytes: get(&target, &[]),
            status: 400,
        });
        let mut target = b"/api/items?q=".to_vec();
        target.extend_from_slice(raw_seq);
        out.push(Case {
            what: "raw bytes in a query value",
            bytes: get(&target, &[]),
            status: 400,
        });
        // Percent-encoded, they are a valid URI: forwarded as sent.
        out.push(Case {
            what: "percent-encoded in the path",
            bytes: get(format!("/api/items/{pct}").as_bytes(), &[]),
            status: 200,
        });
        out.push(Case {
            what: "percent-encoded query name and value",
            bytes: get(format!("/api/items?{pct}={pct}&a{pct}b=1").as_bytes(), &[]),
            status: 200,
        });
        for header in ["User-Agent", "Cookie", "Authorization", "X-Forwarded-For"] {
            let mut h = format!("{header}: ").into_bytes();
            if header == "Cookie" {
                h.extend_from_slice(b"session=");
            }
            if header == "Authorization" {
                h.extend_from_slice(b"Bearer ");
            }
            h.extend_from_slice(raw_seq);
            // obs-text is allowed in field values (RFC 9110 §5.5): forwarded.
            out.push(Case {
                what: "raw bytes in a header value",
                bytes: get(b"/api/items", &[h.as_slice()]),
                status: 200,
            });
        }
        let mut json = b"{\"".to_vec();
        json.extend_from_slice(raw_seq);
        json.extend_from_slice(b"\":\"");
        json.extend_from_slice(raw_seq);
        json.extend_from_slice(b"\"}");
        out.push(Case {
            what: "raw bytes in a JSON key and value",
            bytes: post("/api/items", b"application/json", &json),
            status: 200,
        });
        out.push(Case {
            what: "percent-encoded form name and value",
            bytes: post(
                "/api/items",
                b"application/x-www-form-urlencoded",
                format!("a{pct}={pct}&b=1").as_bytes(),
            ),
            status: 200,
        });
        let mut form = b"a".to_vec();
        form.extend_from_slice(raw_seq);
        form.extend_from_slice(b"=");
        form.extend_from_slice(raw_seq);
        out.push(Case {
            what: "raw bytes in a form body",
            bytes: post("/api/items", b"application/x-www-form-urlencoded", &form),
            status: 200,
        });
        let mut name = b"f".to_vec();
        name.extend_from_slice(raw_seq);
        out.push(Case {
            what: "raw bytes in a multipart field name",
            bytes: multipart(&name),
            status: 200,
        });
    }
    // JSON's own escapes for lone surrogates.
    out.push(Case {
        what: "escaped lone surrogates in JSON",
        bytes: post(
            "/api/items",
            b"application/json",
            br#"{"\ud800":"\udfff","k":"\ud83d"}"#,
        ),
        status: 200,
    });
    // Invalid UTF-8 must not hide an attack: an SQLi around an invalid byte is
    // still caught.
    out.push(Case {
        what: "SQL injection next to invalid bytes",
        bytes: post(
            "/api/items",
            b"application/json",
            b"{\"q\":\"\xff1' UNION SELECT password FROM users--\xfe\"}",
        ),
        status: 403,
    });
    out.push(Case {
        what: "SQL injection in a query next to an invalid escape",
        bytes: get(
            b"/api/items?q=%ff1%27%20UNION%20SELECT%20password%20FROM%20users--",
            &[],
        ),
        status: 403,
    });
    out
}

async fn run_cases(addr: SocketAddr) {
    let mut wrong = Vec::new();
    for c in cases() {
        let resp = raw::exchange(addr, &c.bytes).await;
        let got = raw::status(&resp);
        if got != c.status {
            wrong.push(format!(
                "{} ({}): got {got}, want {}",
                c.what,
                String::from_utf8_lossy(&c.bytes[..c.bytes.len().min(60)]),
                c.status
            ));
        }
        let body = resp.split("\r\n\r\n").nth(1).unwrap_or_default();
        // A target that is not a URI never becomes a request: hyper's parser
        // answers 400 with an empty body. Every other denial is Palisade's JSON.
        if got >= 400 && !body.is_empty() {
            let v: serde_json::Value = serde_json::from_str(body)
                .unwrap_or_else(|e| panic!("{}: denial body is not JSON ({e}): {resp}", c.what));
            assert!(v["reason"].is_string(), "{}: no reason: {resp}", c.what);
        }
        // The proxy keeps serving.
        let ok = raw::exchange(addr, &get(b"/api/items", &[])).await;
        assert_eq!(raw::status(&ok), 200, "after {}: {ok}", c.what);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn invalid_utf8_gets_defined_answers_and_events_replace_it() {
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let side = Sidecar::start_with(
        &up.url(),
        "[routes]\nunknown = \"allow\"",
        Options {
            no_analytics: true,
            ..Options::default()
        },
    );
    run_cases(side.addr).await;
    let mut events = Vec::new();
    eventually("every request is recorded", || {
        side.palisade.tee().drain_into(&mut events, usize::MAX);
        // Two requests per case; a 400 for a malformed target may be answered
        // before there is a request to record.
        events.len() >= cases().len()
    })
    .await;
    // Invalid bytes in the User-Agent reach the event replaced (U+FFFD), never
    // dropped silently and never as invalid UTF-8.
    let replaced = events
        .iter()
        .filter(|e| {
            e.user_agent
                .as_deref()
                .is_some_and(|u| u.contains('\u{fffd}'))
        })
        .count();
    assert_eq!(replaced, BAD.len(), "one event per invalid User-Agent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_and_admin_answers_stay_valid_utf8_json() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let config = format!(
        r#"
[proxy]
workers = 1
listen = ["127.0.0.1:0"]
[upstream]
url = "{}"
[routes]
unknown = "allow"
[log]
format = "json"
level = "info"
access_log = true
[store]
path = "{}"
[admin]
listen = "127.0.0.1:0"
token_env = "PALISADE_UTF8_UNSET_TOKEN"
token_file = "{}"
"#,
        up.url(),
        dir.path().join("palisade.redb").display(),
        token_file.display()
    );
    let palisade = Running::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_palisade-e2e")),
        &config,
    );
    run_cases(palisade.addr).await;
    // A last, recognisable request: its log line shows that every line before
    // it was read (the reader stops at the first line that is not UTF-8).
    let last = raw::exchange(
        palisade.addr,
        &get(b"/utf8-final", &[&b"X-Request-Id: utf8-final-request"[..]]),
    )
    .await;
    assert_eq!(raw::status(&last), 200);
    eventually("the last request is logged", || {
        palisade.log().contains("utf8-final-request")
    })
    .await;
    for line in palisade.log().lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not a JSON log line: {line}"
        );
    }

    let admin_addr: SocketAddr = palisade.admin_addr().await;
    let http = reqwest::Client::new();
    let answers = palisade_tests::admin::walk(&http, admin_addr, TOKEN, Vec::new()).await;
    for a in &answers {
        let json = a
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/json"));
        if json {
            assert!(
                serde_json::from_slice::<serde_json::Value>(&a.body).is_ok(),
                "{}: not JSON",
                a.place
            );
        } else {
            assert!(std::str::from_utf8(&a.body).is_ok() || a.place.contains("export"));
        }
    }
}
