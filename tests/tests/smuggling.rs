//! Ambiguous or malformed HTTP/1 framing never reaches the upstream. Sent as raw
//! bytes, because real clients refuse to produce these.

use http::StatusCode;
use palisade_tests::raw;
use palisade_tests::sidecar::Sidecar;
use palisade_tests::upstream::Upstream;

async fn setup() -> (Upstream, Sidecar) {
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let side = Sidecar::start(&up.url(), "");
    (up, side)
}

const CASES: [(&str, &str); 7] = [
    (
        "content-length and transfer-encoding",
        "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
    ),
    (
        "transfer-encoding then content-length",
        "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
    ),
    (
        "duplicate content-length, different",
        "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    ),
    (
        "duplicate content-length, equal",
        "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    ),
    (
        "obfuscated transfer-encoding",
        "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    ),
    (
        "bad chunk size",
        "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    ),
    (
        "obs-fold",
        "GET /a HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n  b\r\n\r\n",
    ),
];

#[tokio::test]
async fn ambiguous_and_malformed_requests_get_400_and_never_reach_upstream() {
    let (up, side) = setup().await;
    for (name, bytes) in CASES {
        let resp = raw::exchange(side.addr, bytes.as_bytes()).await;
        assert_eq!(raw::status(&resp), 400, "{name}: {resp}");
        assert_eq!(up.count(), 0, "{name} reached the upstream");
    }
    assert!(
        side.palisade
            .proxy_stats()
            .denied(palisade_models::DenyCode::BadRequest)
            >= 5
    );
}

#[tokio::test]
async fn a_smuggled_request_pipelined_behind_a_good_one_is_refused() {
    let (up, side) = setup().await;
    let pipeline = "GET /first HTTP/1.1\r\nHost: x\r\n\r\nPOST /second HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let resp = raw::exchange(side.addr, pipeline.as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("\"reason\":\"bad_request\""), "{resp}");
    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri.path(), "/first");
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
