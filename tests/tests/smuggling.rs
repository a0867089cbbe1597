//! Request smuggling: no request reaches the upstream ambiguously, and each
//! ambiguous or malformed one gets the right refusal. The upstream is a
//! recording one (`recording.rs`): every byte it ever receives is read back by
//! a strict, independent parser (`framing.rs`), so a pass means "the service
//! saw exactly one framing", not "a lenient server coped".
//!
//! Classes (the HTTP/1.1 ones live in tests/fixtures/smuggling.txt, one case
//! each, with the reason its outcome is right):
//! * CL.TE / TE.CL: Content-Length and Transfer-Encoding together: 400.
//! * TE.TE: Transfer-Encoding obfuscated (lists, `xchunked`, quotes, control
//!   bytes, duplicates, obs-fold, `Transfer_Encoding`, HTTP/1.0): 400; the
//!   spellings every parser reads as `chunked` (case, tabs) pass, re-framed.
//! * CL: signs, lists, duplicates (equal too), hex, overflow, underscores: 400.
//! * chunk: bad sizes (overflow, sign, `0x`), bare LF, data/size mismatch,
//!   a request line in the trailers: 400; extensions pass, dropped.
//! * line / head: request-line and header-syntax oddities: 400 (505 for a
//!   version hyper does not speak); absolute-form, bare-LF lines and leading
//!   empty lines pass, normalised to origin-form and CRLF.
//! * a body that breaks after forwarding began: the upstream connection is
//!   closed mid-request and never reused.
//! * HTTP/2 downgrade (raw frames, `h2raw.rs`): connection-specific headers,
//!   CR/LF in values, uppercase names, bad pseudo-headers and content-length
//!   that disagrees with DATA are malformed (RFC 9113 §8.1.1, §8.2.2): hyper's
//!   h2 resets the stream with PROTOCOL_ERROR before the request exists, so
//!   nothing is forwarded; `te: trailers` is allowed and stripped.

use std::time::Duration;

use palisade_tests::corpus::{self, Case};
use palisade_tests::framing::{self, Framing, Message};
use palisade_tests::h2raw::{self, H2Conn, Outcome};
use palisade_tests::recording::RecordingUpstream;
use palisade_tests::sidecar::Sidecar;
use palisade_tests::upstream::Upstream;
use palisade_tests::{eventually, raw};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CORPUS: &str = include_str!("../fixtures/smuggling.txt");
/// Longest a case may take to be answered.
const ANSWER: Duration = Duration::from_secs(10);

async fn setup() -> (RecordingUpstream, Sidecar) {
    let up = RecordingUpstream::start().await;
    let side = Sidecar::start(&up.url(), "");
    (up, side)
}

/// Complete requests the upstream has read so far, on all connections.
fn forwarded(up: &RecordingUpstream) -> Vec<Message> {
    up.connections()
        .iter()
        .flat_map(|c| framing::read_prefix(&c.bytes()))
        .filter(|m| m.complete)
        .collect()
}

/// Every upstream connection reads as an unambiguous stream. A connection cut
/// mid-request is closed by the proxy asynchronously, so that is awaited (as
/// `eventually` does, bounded), and the offence is shown if it never comes.
async fn assert_upstream_unambiguous(up: &RecordingUpstream) {
    let deadline = tokio::time::Instant::now() + palisade_tests::EVENTUALLY;
    loop {
        let errors: Vec<String> = up
            .connections()
            .iter()
            .filter_map(|c| {
                framing::unambiguous(c)
                    .err()
                    .map(|e| format!("{e}:\n{}", String::from_utf8_lossy(&c.bytes())))
            })
            .collect();
        if errors.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "ambiguous upstream streams:\n{}",
            errors.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn every_corpus_case_gets_its_answer_and_nothing_ambiguous_is_forwarded() {
    let cases = corpus::parse(CORPUS);
    assert!(cases.len() >= 60, "corpus has {} cases", cases.len());
    let (up, side) = setup().await;
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(e) = run_case(&up, &side, case).await {
            failures.push(format!("{} ({}): {e}", case.name, case.field("class")));
        }
    }
    for c in up.connections() {
        if let Err(e) = framing::unambiguous(&c) {
            failures.push(format!(
                "upstream stream ambiguous: {e}\n{}",
                String::from_utf8_lossy(&c.bytes())
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

async fn run_case(up: &RecordingUpstream, side: &Sidecar, case: &Case) -> Result<(), String> {
    let before = forwarded(up).len();
    let want = case.statuses();
    let mut s = TcpStream::connect(side.addr).await.expect("connect");
    s.write_all(&case.bytes).await.expect("write case");
    let (got, closed) = read_responses(&mut s, want.len()).await;
    if got != want {
        return Err(format!("statuses {got:?}, expected {want:?}"));
    }
    if want.last().is_some_and(|&st| st >= 400) && !closed {
        return Err("connection left open after a refusal".into());
    }
    let reached = forwarded(up);
    let new = &reached[before..];
    let expected: usize = case.field("upstream").parse().expect("upstream count");
    if new.len() != expected {
        return Err(format!(
            "{} requests reached the upstream, expected {expected}: {new:?}",
            new.len()
        ));
    }
    if let Some(body) = case.fields.get("body") {
        let body = corpus::unescape(body).expect("body escapes");
        if new.iter().any(|m| m.body != body) {
            return Err(format!("upstream bodies {new:?}, expected {body:?}"));
        }
    }
    Ok(())
}

/// Reads up to `n` responses (head and Content-Length body); stops early when
/// the server closes. Returns their statuses and whether the server closed
/// (after the last response, waiting for it).
async fn read_responses(s: &mut TcpStream, n: usize) -> (Vec<u16>, bool) {
    let mut buf = Vec::new();
    let mut statuses = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut eof = false;
    let done = tokio::time::timeout(ANSWER, async {
        loop {
            while let Some((status, used)) = one_response(&buf) {
                statuses.push(status);
                buf.drain(..used);
            }
            let refused = statuses.last().is_some_and(|&st| st >= 400);
            if eof || (statuses.len() >= n && !refused) {
                return;
            }
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => eof = true,
                Ok(k) => buf.extend_from_slice(&chunk[..k]),
            }
        }
    })
    .await;
    assert!(
        done.is_ok(),
        "no answer in time (statuses so far {statuses:?})"
    );
    (statuses, eof)
}

/// One complete response at the start of `buf`: its status and length.
fn one_response(buf: &[u8]) -> Option<(u16, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().expect("response content-length"));
    (buf.len() >= end + len).then(|| (raw::status(&head), end + len))
}

#[tokio::test]
async fn long_chunk_extensions_are_refused() {
    let (up, side) = setup().await;
    let ext = "a".repeat(64 * 1024);
    let req = format!(
        "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;{ext}\r\nhello\r\n0\r\n\r\n"
    );
    let mut s = TcpStream::connect(side.addr).await.expect("connect");
    // The proxy may stop reading (and reset) before the whole request is written.
    let _ = s.write_all(req.as_bytes()).await;
    let (got, closed) = read_responses(&mut s, 1).await;
    assert_eq!(got, [400]);
    assert!(closed);
    assert!(forwarded(&up).is_empty());
    assert_upstream_unambiguous(&up).await;
}

/// More than the signature engine reads ahead (`signatures.body_bytes`, 8 KiB
/// by default): a first piece this large is forwarded before the rest arrives.
const AHEAD: usize = 9216;

#[tokio::test]
async fn a_chunked_body_that_breaks_after_forwarding_began_never_poisons_the_pool() {
    let (up, side) = setup().await;
    let mut s = TcpStream::connect(side.addr).await.expect("connect");
    let mut first =
        format!("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{AHEAD:x}\r\n")
            .into_bytes();
    first.extend(std::iter::repeat_n(b'a', AHEAD));
    first.extend_from_slice(b"\r\n");
    s.write_all(&first).await.expect("write");
    eventually("the first chunk reaches the upstream", || {
        up.all_bytes().iter().filter(|&&b| b == b'a').count() >= AHEAD
    })
    .await;
    // Now a chunk size nobody can read, and a request hidden behind it.
    s.write_all(b"zz\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let (got, closed) = read_responses(&mut s, 1).await;
    assert_eq!(got, [400]);
    assert!(closed);
    let first = up.connections()[0].clone();
    eventually(
        "the half-sent upstream request's connection is closed",
        || first.closed(),
    )
    .await;
    let msgs = framing::unambiguous(&first).expect("unambiguous");
    assert_eq!(msgs.len(), 1);
    assert!(!msgs[0].complete);
    assert_eq!(msgs[0].body.len(), AHEAD);

    // The next request is served on a new upstream connection.
    let resp = raw::exchange(
        side.addr,
        b"GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(raw::status(&resp), 200, "{resp}");
    assert_eq!(up.connections().len(), 2);
    assert_eq!(first.bytes().len(), up.connections()[0].bytes().len());
    let all = forwarded(&up);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].target, "/next");
    assert_upstream_unambiguous(&up).await;
}

#[tokio::test]
async fn a_client_that_vanishes_mid_body_leaves_no_half_request_on_a_live_connection() {
    let (up, side) = setup().await;
    let mut s = TcpStream::connect(side.addr).await.expect("connect");
    let mut req = format!(
        "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        2 * AHEAD
    )
    .into_bytes();
    req.extend(std::iter::repeat_n(b'a', AHEAD));
    s.write_all(&req).await.expect("write");
    eventually("the first bytes reach the upstream", || {
        up.all_bytes().iter().filter(|&&b| b == b'a').count() >= AHEAD
    })
    .await;
    drop(s);
    let first = up.connections()[0].clone();
    eventually("the upstream connection is closed", || first.closed()).await;
    let msgs = framing::unambiguous(&first).expect("unambiguous");
    assert_eq!(msgs[0].framing, Framing::Length(2 * AHEAD as u64));
    assert!(!msgs[0].complete);
}

#[tokio::test]
async fn a_smuggled_request_pipelined_behind_a_good_one_is_refused() {
    let (up, side) = setup().await;
    let pipeline = "GET /first HTTP/1.1\r\nHost: x\r\n\r\nPOST /second HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let resp = raw::exchange(side.addr, pipeline.as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("\"reason\":\"bad_request\""), "{resp}");
    let seen = forwarded(&up);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, "/first");
    assert!(
        side.palisade
            .proxy_stats()
            .denied(palisade_models::DenyCode::BadRequest)
            >= 1
    );
}

#[tokio::test]
async fn chunked_bodies_and_pipelining_still_work() {
    let up = Upstream::echo().await;
    let side = Sidecar::start(&up.url(), "");
    let pipeline = "POST /one HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nPOST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nworld";
    let resp = raw::exchange(side.addr, pipeline.as_bytes()).await;
    assert_eq!(resp.matches("HTTP/1.1 200").count(), 2, "{resp}");
    assert!(resp.contains("hello") && resp.contains("world"), "{resp}");
    assert_eq!(up.count(), 2);
}

// ---- HTTP/2 downgrade -------------------------------------------------------

/// One HTTP/2 case: extra fields after the pseudo-headers, the DATA frames,
/// what the client must see, and how many requests reach the upstream.
struct H2Case {
    name: &'static str,
    fields: &'static [(&'static str, &'static str)],
    /// Replaces the default pseudo-headers when set.
    pseudo: Option<&'static [(&'static str, &'static str)]>,
    data: &'static [&'static str],
    expect: Outcome,
    upstream: usize,
}

const POST: &[(&str, &str)] = &[
    (":method", "POST"),
    (":scheme", "http"),
    (":path", "/a"),
    (":authority", "x"),
];

const fn reset(
    name: &'static str,
    fields: &'static [(&'static str, &'static str)],
    data: &'static [&'static str],
) -> H2Case {
    H2Case {
        name,
        fields,
        pseudo: None,
        data,
        expect: Outcome::Reset(h2raw::PROTOCOL_ERROR),
        upstream: 0,
    }
}

/// hyper's h2 (the h2 crate) ends the whole connection for bytes HPACK
/// decoding refuses in a field (names with uppercase, space, colon or control
/// bytes; CR, LF or NUL in values; unknown or mangled pseudo-headers): GOAWAY
/// with PROTOCOL_ERROR. RFC 9113 §5.4.1 lets a stream error be treated as a
/// connection error; it is the stricter answer, and nothing is forwarded.
const fn goaway(
    name: &'static str,
    fields: &'static [(&'static str, &'static str)],
    pseudo: Option<&'static [(&'static str, &'static str)]>,
) -> H2Case {
    H2Case {
        name,
        fields,
        pseudo,
        data: &[],
        expect: Outcome::GoAway(h2raw::PROTOCOL_ERROR),
        upstream: 0,
    }
}

const fn bad_pseudo(name: &'static str, pseudo: &'static [(&'static str, &'static str)]) -> H2Case {
    H2Case {
        name,
        fields: &[],
        pseudo: Some(pseudo),
        data: &[],
        expect: Outcome::Reset(h2raw::PROTOCOL_ERROR),
        upstream: 0,
    }
}

/// Why these outcomes are right: RFC 9113 §8.1.1 makes a request with
/// connection-specific fields, a `te` other than `trailers`, uppercase names,
/// CR/LF/NUL in values, bad pseudo-headers or a content-length that disagrees
/// with the DATA frames malformed, to be treated as a stream error of type
/// PROTOCOL_ERROR, and an intermediary must not forward it. hyper's h2 does
/// exactly that (RST_STREAM, or GOAWAY for bytes HPACK decoding refuses),
/// before the request reaches Palisade's pipeline. What would still read two
/// ways once sent as HTTP/1.1 (two Host or content-length fields, `_`
/// lookalikes) the accept phase answers 400.
const H2_CASES: &[H2Case] = &[
    reset(
        "content-length above the data",
        &[("content-length", "10")],
        &["hello"],
    ),
    reset(
        "content-length below the data",
        &[("content-length", "3")],
        &["hello"],
    ),
    reset(
        "content-length below the data, across frames",
        &[("content-length", "4")],
        &["he", "llo"],
    ),
    reset(
        "two different content-lengths",
        &[("content-length", "5"), ("content-length", "6")],
        &["hello"],
    ),
    reset(
        "content-length with a sign",
        &[("content-length", "+5")],
        &["hello"],
    ),
    reset(
        "content-length list",
        &[("content-length", "5, 5")],
        &["hello"],
    ),
    reset("connection", &[("connection", "keep-alive")], &["hello"]),
    reset(
        "connection naming a header",
        &[("connection", "x-a"), ("x-a", "1")],
        &[],
    ),
    reset(
        "transfer-encoding",
        &[("transfer-encoding", "chunked")],
        &["5\r\nhello\r\n0\r\n\r\n"],
    ),
    reset(
        "transfer-encoding with content-length",
        &[("content-length", "5"), ("transfer-encoding", "chunked")],
        &["hello"],
    ),
    reset("keep-alive", &[("keep-alive", "timeout=5")], &[]),
    reset(
        "proxy-connection",
        &[("proxy-connection", "keep-alive")],
        &[],
    ),
    reset("upgrade", &[("upgrade", "websocket")], &[]),
    reset("te other than trailers", &[("te", "gzip")], &[]),
    reset("te list with trailers", &[("te", "trailers, gzip")], &[]),
    goaway(
        "CRLF in a value (header injection on downgrade)",
        &[("x-a", "1\r\nTransfer-Encoding: chunked")],
        None,
    ),
    goaway("LF in a value", &[("x-a", "1\nContent-Length: 0")], None),
    goaway("NUL in a value", &[("x-a", "1\0")], None),
    goaway("uppercase name", &[("Transfer-Encoding", "chunked")], None),
    goaway(
        "space in a name",
        &[("transfer-encoding ", "chunked")],
        None,
    ),
    goaway("colon in a name", &[("x:a", "b")], None),
    bad_pseudo(
        "CRLF in :path",
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/a HTTP/1.1\r\nHost: evil"),
            (":authority", "x"),
        ],
    ),
    bad_pseudo(
        "space in :path",
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/a b"),
            (":authority", "x"),
        ],
    ),
    goaway(
        "space in :method",
        &[],
        Some(&[
            (":method", "GET /x"),
            (":scheme", "http"),
            (":path", "/a"),
            (":authority", "x"),
        ]),
    ),
    bad_pseudo(
        "empty :path",
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", ""),
            (":authority", "x"),
        ],
    ),
    bad_pseudo(
        "no :path",
        &[(":method", "GET"), (":scheme", "http"), (":authority", "x")],
    ),
    bad_pseudo(
        "pseudo-header after a regular one",
        &[
            (":method", "GET"),
            (":scheme", "http"),
            ("x-a", "1"),
            (":path", "/a"),
            (":authority", "x"),
        ],
    ),
    goaway(
        "unknown pseudo-header",
        &[],
        Some(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/a"),
            (":authority", "x"),
            (":x", "1"),
        ]),
    ),
    H2Case {
        name: "te: trailers is allowed (and not forwarded: it is hop-by-hop)",
        fields: &[("te", "trailers")],
        pseudo: None,
        data: &["hello"],
        expect: Outcome::Response(200),
        upstream: 1,
    },
    H2Case {
        name: "content-length that matches the data",
        fields: &[("content-length", "5")],
        pseudo: None,
        data: &["he", "llo"],
        expect: Outcome::Response(200),
        upstream: 1,
    },
    H2Case {
        // hyper's h2 accepts equal ones and would forward both: refused in the
        // accept phase, as the HTTP/1 guard refuses them.
        name: "two equal content-lengths",
        fields: &[("content-length", "5"), ("content-length", "5")],
        pseudo: None,
        data: &["hello"],
        expect: Outcome::Response(400),
        upstream: 0,
    },
    H2Case {
        name: "no content-length",
        fields: &[],
        pseudo: None,
        data: &["hel", "lo"],
        expect: Outcome::Response(200),
        upstream: 1,
    },
    H2Case {
        name: "Host beside :authority, and a second Host",
        fields: &[("host", "y"), ("host", "z")],
        pseudo: None,
        data: &["hello"],
        expect: Outcome::Response(400),
        upstream: 0,
    },
    H2Case {
        name: "transfer_encoding with an underscore",
        fields: &[("transfer_encoding", "chunked")],
        pseudo: None,
        data: &["hello"],
        expect: Outcome::Response(400),
        upstream: 0,
    },
];

#[tokio::test]
async fn http2_downgrade_cases_are_reset_or_forwarded_with_one_framing() {
    let (up, side) = setup().await;
    let mut failures = Vec::new();
    for case in H2_CASES {
        let before = forwarded(&up).len();
        let mut c = H2Conn::connect(side.addr).await;
        let mut fields: Vec<(&[u8], &[u8])> = case
            .pseudo
            .unwrap_or(POST)
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect();
        fields.extend(
            case.fields
                .iter()
                .map(|(n, v)| (n.as_bytes(), v.as_bytes())),
        );
        c.headers(1, &fields, case.data.is_empty()).await;
        for (i, d) in case.data.iter().enumerate() {
            c.data(1, d.as_bytes(), i + 1 == case.data.len()).await;
        }
        let got = c.outcome(1).await;
        let new = forwarded(&up).split_off(before);
        if got != case.expect || new.len() != case.upstream {
            failures.push(format!(
                "{}: {got:?} with {} forwarded, expected {:?} with {}: {new:?}",
                case.name,
                new.len(),
                case.expect,
                case.upstream
            ));
            continue;
        }
        if case.upstream == 1 {
            let m = &new[0];
            if m.body != b"hello" || !m.header_values("te").is_empty() {
                failures.push(format!("{}: forwarded as {m:?}", case.name));
            }
        }
    }
    assert_upstream_unambiguous(&up).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn http2_data_past_content_length_after_forwarding_began_cuts_the_upstream_request() {
    let (up, side) = setup().await;
    let mut c = H2Conn::connect(side.addr).await;
    let mut fields: Vec<(&[u8], &[u8])> = POST
        .iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect();
    let len = (AHEAD + 5).to_string();
    fields.push((b"content-length", len.as_bytes()));
    c.headers(1, &fields, false).await;
    c.data(1, &vec![b'a'; AHEAD], false).await;
    eventually("the first bytes reach the upstream", || {
        up.all_bytes().iter().filter(|&&b| b == b'a').count() >= AHEAD
    })
    .await;
    c.data(1, b"bbbbb and more", true).await;
    assert_eq!(c.outcome(1).await, Outcome::Reset(h2raw::PROTOCOL_ERROR));
    let first = up.connections()[0].clone();
    eventually("the upstream connection is closed", || first.closed()).await;
    let msgs = framing::unambiguous(&first).expect("unambiguous");
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].framing, Framing::Length(AHEAD as u64 + 5));
    assert_eq!(msgs[0].body.len(), AHEAD);
    assert!(!msgs[0].complete);
}
