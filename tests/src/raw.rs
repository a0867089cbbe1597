//! Raw-socket HTTP/1.1 for what real clients refuse to send (smuggling shapes,
//! partial heads, oversized heads) and for watching a connection close.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest a raw exchange may take before the test fails.
const RAW_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends `bytes` and returns everything the server sends until it closes.
pub async fn exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("write");
    read_to_close(&mut s).await
}

/// Reads until the server closes the connection (or resets it).
pub async fn read_to_close(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let read = tokio::time::timeout(RAW_TIMEOUT, async {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "server did not close the connection in time");
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads one response (head and a Content-Length body) off a kept-alive connection.
pub async fn read_response(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let done = tokio::time::timeout(RAW_TIMEOUT, async {
        let mut byte = [0u8; 1];
        while !out.ends_with(b"\r\n\r\n") {
            if s.read(&mut byte).await.expect("read head") == 0 {
                return;
            }
            out.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&out).to_ascii_lowercase();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse::<usize>().expect("content-length"));
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).await.expect("read body");
        out.extend_from_slice(&body);
    })
    .await;
    assert!(done.is_ok(), "no complete response in time");
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw response ("HTTP/1.1 200 OK..." → 200); 0 if none.
pub fn status(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}
