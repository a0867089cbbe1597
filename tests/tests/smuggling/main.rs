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
//! * HTTP/2 downgrade (`h2.rs`; raw frames, `h2raw.rs`): connection-specific headers,
//!   CR/LF in values, uppercase names, bad pseudo-headers and content-length
//!   that disagrees with DATA are malformed (RFC 9113 §8.1.1, §8.2.2): hyper's
//!   h2 resets the stream with PROTOCOL_ERROR before the request exists, so
//!   nothing is forwarded; `te: trailers` is allowed and stripped.

use std::time::Duration;

use palisade_tests::corpus::{self, Case};
use palisade_tests::framing::{self, Framing, Message};
use palisade_tests::recording::RecordingUpstream;
use palisade_tests::sidecar::Sidecar;
use palisade_tests::upstream::Upstream;
use palisade_tests::{eventually, raw};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CORPUS: &str = include_str!("../../fixtures/smuggling.txt");
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
async fn a_target_that_is_not_a_uri_gets_a_reason_and_a_deny_count() {
    let (up, side) = setup().await;
    let resp = raw::exchange(side.addr, b"GET /a<script> HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(raw::status(&resp), 400, "{resp}");
    // hyper's own 400 has an empty body; this one says why.
    assert!(resp.contains("\"reason\":\"bad_request\""), "{resp}");
    assert!(
        side.palisade
            .proxy_stats()
            .denied(palisade_models::DenyCode::BadRequest)
            >= 1
    );
    assert!(forwarded(&up).is_empty());
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

mod h2;
