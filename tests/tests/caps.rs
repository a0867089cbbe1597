//! Each timeout and cap gives its documented answer: 408, idle close, connection
//! cap, 431 for header count and size, 414 for URL length, on HTTP/1.1 and HTTP/2.

use std::time::{Duration, Instant};

use http::StatusCode;
use palisade_tests::raw;
use palisade_tests::sidecar::Sidecar;
use palisade_tests::upstream::Upstream;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const CAPS: &str = r#"
[proxy]
max_connections = 3
[proxy.timeouts]
header_read = "300ms"
idle = "400ms"
[proxy.limits]
max_header_count = 20
max_header_bytes = 2048
max_url_bytes = 256
"#;

async fn setup() -> (Upstream, Sidecar) {
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let side = Sidecar::start(&up.url(), CAPS);
    (up, side)
}

#[tokio::test]
async fn a_slow_head_gets_408_then_close() {
    let (up, side) = setup().await;
    let mut s = TcpStream::connect(side.addr).await.unwrap();
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let resp = raw::read_to_close(&mut s).await;
    assert_eq!(raw::status(&resp), 408, "{resp}");
    assert!(resp.contains("\"reason\":\"header_timeout\""), "{resp}");
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(up.count(), 0);

    // A client that connects and sends nothing is timed out the same way.
    let mut silent = TcpStream::connect(side.addr).await.unwrap();
    let resp = raw::read_to_close(&mut silent).await;
    assert_eq!(raw::status(&resp), 408, "{resp}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let (_up, side) = setup().await;
    let mut s = TcpStream::connect(side.addr).await.unwrap();
    s.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let first = raw::read_response(&mut s).await;
    assert_eq!(raw::status(&first), 200);
    // Still open and usable while not idle for long.
    s.write_all(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(raw::status(&raw::read_response(&mut s).await), 200);
    let idle_from = Instant::now();
    let rest = raw::read_to_close(&mut s).await;
    assert!(rest.is_empty(), "an idle close sends nothing: {rest}");
    assert!(idle_from.elapsed() >= Duration::from_millis(350));
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_at_once() {
    let (_up, side) = setup().await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(side.addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(raw::status(&raw::read_response(&mut s).await), 200);
        held.push(s);
    }
    let mut extra = TcpStream::connect(side.addr).await.unwrap();
    let _ = extra.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(raw::read_to_close(&mut extra).await, "");
    let stats = side.palisade.proxy_stats();
    assert_eq!(
        stats
            .connections_rejected
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    drop(held);
    palisade_tests::eventually("slots are freed", || {
        stats
            .connections_open
            .load(std::sync::atomic::Ordering::Relaxed)
            == 0
    })
    .await;
    let mut again = TcpStream::connect(side.addr).await.unwrap();
    again
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(raw::status(&raw::read_response(&mut again).await), 200);
}

#[tokio::test]
async fn oversized_heads_and_urls_on_http1() {
    let (up, side) = setup().await;
    let mut many = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 0..30 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(
        raw::status(&raw::exchange(side.addr, many.as_bytes()).await),
        431
    );

    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(3000)
    );
    assert_eq!(
        raw::status(&raw::exchange(side.addr, big.as_bytes()).await),
        431
    );

    let long_url = format!(
        "GET /{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "u".repeat(300)
    );
    let resp = raw::exchange(side.addr, long_url.as_bytes()).await;
    assert_eq!(raw::status(&resp), 414, "{resp}");
    assert!(resp.contains("\"reason\":\"url_too_long\""));
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn oversized_heads_and_urls_on_http2() {
    let (up, side) = setup().await;
    let c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .no_proxy()
        .build()
        .unwrap();
    let ok = c.get(side.url("/fine")).send().await.unwrap();
    assert_eq!(ok.version(), http::Version::HTTP_2);
    assert_eq!(ok.status(), StatusCode::OK);

    let mut req = c.get(side.url("/many"));
    for i in 0..30 {
        req = req.header(format!("x-h{i}"), "v");
    }
    // 30 small headers fit HTTP/2's header-list size, so our own count cap answers.
    let many = req.send().await.unwrap();
    assert_eq!(many.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let long = c
        .get(side.url(&format!("/{}", "u".repeat(300))))
        .send()
        .await
        .unwrap();
    assert_eq!(long.status(), StatusCode::URI_TOO_LONG);
    assert_eq!(up.count(), 1);
}

#[tokio::test]
async fn a_body_stalled_before_the_inspected_prefix_gets_408() {
    let (up, side) = setup().await;
    let mut s = TcpStream::connect(side.addr).await.unwrap();
    // Signatures are on (block, the default): the first body_bytes (or the
    // whole body) must arrive within header_read before anything goes upstream.
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    let resp = raw::read_response(&mut s).await;
    assert_eq!(raw::status(&resp), 408, "{resp}");
    assert!(resp.contains("\"reason\":\"header_timeout\""), "{resp}");
    assert_eq!(up.count(), 0, "nothing reached the upstream");
}
