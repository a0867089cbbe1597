//! Heads far past the caps, with the default limits: a 1 MiB header line, a path
//! of 100,000 segments, 10,000 headers, and a URL between the URL cap and the
//! head cap. Each gets its documented answer (431 for a head over
//! `max_header_bytes` or `max_header_count`, the request line included; 414 for
//! a target over `max_url_bytes` inside a head that fits), none reaches the
//! upstream, and the proxy keeps serving.

use http::StatusCode;
use palisade_tests::raw;
use palisade_tests::sidecar::Sidecar;
use palisade_tests::upstream::Upstream;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Sends `bytes` from a task of its own while the response is read, so the
/// answer is read even though the proxy stops reading the head early (its
/// write may then fail, which is expected).
async fn oversized(addr: std::net::SocketAddr, bytes: Vec<u8>) -> String {
    let s = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&bytes).await;
        wr
    });
    let mut out = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 4096];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
            if out.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer in time");
    writer.abort();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn heads_far_past_the_caps_get_their_documented_answers() {
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let side = Sidecar::start(&up.url(), "");
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "a 1 MiB header line",
            format!(
                "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
                "a".repeat(1 << 20)
            )
            .into_bytes(),
            431,
        ),
        (
            "a path of 100,000 segments",
            format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", "/a".repeat(100_000)).into_bytes(),
            431,
        ),
        (
            "10,000 headers",
            {
                let mut h = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
                for i in 0..10_000 {
                    h.push_str(&format!("X-H{i}: v\r\n"));
                }
                h.push_str("\r\n");
                h.into_bytes()
            },
            431,
        ),
        (
            "a 10,000-byte URL (over max_url_bytes, within max_header_bytes)",
            format!(
                "GET /{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                "u".repeat(10_000)
            )
            .into_bytes(),
            414,
        ),
    ];
    for (what, bytes, want) in cases {
        let resp = oversized(side.addr, bytes).await;
        assert_eq!(raw::status(&resp), want, "{what}: {resp}");
        let ok = raw::exchange(
            side.addr,
            b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(raw::status(&ok), 200, "after {what}: {ok}");
    }
    assert_eq!(
        up.count(),
        4,
        "only the four normal requests reached the upstream"
    );
}
