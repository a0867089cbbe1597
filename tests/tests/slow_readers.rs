//! A client that stops reading its response is cut after `proxy.timeouts.send`
//! (slow-read attacks hold buffers otherwise), while a client that reads steadily
//! gets a large response whole however long it takes.

use std::sync::atomic::Ordering;
use std::time::Instant;

use http::StatusCode;
use palisade_tests::raw;
use palisade_tests::sidecar::Sidecar;
use palisade_tests::upstream::{Upstream, streamed_bytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

/// Larger than every buffer on the way (the proxy's, both sockets' kernel
/// buffers), so a client that reads nothing leaves a write waiting.
const BIG: u64 = 64 << 20;

const SLOW: &str = r#"
[proxy.timeouts]
send = "1s"
"#;

async fn big_upstream() -> Upstream {
    Upstream::start(|_req| async {
        let mut r = http::Response::new(streamed_bytes(BIG));
        *r.status_mut() = StatusCode::OK;
        r
    })
    .await
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_after_the_send_timeout() {
    let up = big_upstream().await;
    let side = Sidecar::start(&up.url(), SLOW);
    let sock = TcpSocket::new_v4().unwrap();
    // A small receive window, so the proxy's writes wait soon.
    sock.set_recv_buffer_size(4096).unwrap();
    let mut s = sock.connect(side.addr).await.unwrap();
    s.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let stats = side.palisade.proxy_stats();
    let asked = Instant::now();
    palisade_tests::eventually("the stalled reader is cut", || {
        stats.send_timeouts.load(Ordering::Relaxed) == 1
    })
    .await;
    assert!(
        asked.elapsed().as_millis() >= 900,
        "cut before the send timeout: {:?}",
        asked.elapsed()
    );
    // What was buffered before the cut, then the end: far from the whole body.
    let got = raw::read_to_close(&mut s).await;
    assert!(
        got.starts_with("HTTP/1.1 200"),
        "{}",
        &got[..got.len().min(200)]
    );
    assert!(
        (got.len() as u64) < BIG / 2,
        "{} bytes reached a client that read nothing",
        got.len()
    );
    palisade_tests::eventually("its slot is freed", || {
        stats.connections_open.load(Ordering::Relaxed) == 0
    })
    .await;
}

#[tokio::test]
async fn a_client_reading_steadily_gets_the_whole_response() {
    let up = big_upstream().await;
    let side = Sidecar::start(&up.url(), SLOW);
    let mut s = tokio::net::TcpStream::connect(side.addr).await.unwrap();
    s.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match s.read(&mut buf).await.unwrap() {
            0 => break,
            n => total += n as u64,
        }
    }
    assert!(total > BIG, "head and all {BIG} body bytes, got {total}");
    let stats = side.palisade.proxy_stats();
    assert_eq!(stats.send_timeouts.load(Ordering::Relaxed), 0);
}
