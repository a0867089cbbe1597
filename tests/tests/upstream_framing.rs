//! Responses to requests without a body, which take the lean exchange: every
//! framing an upstream may use reaches the client whole, a malformed response is
//! a 502, and a kept-alive connection is reused only when that is safe.
//! The upstream here is a raw socket, so it can answer what hyper would not.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::StatusCode;
use palisade_tests::sidecar::{Sidecar, client};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the scripted upstream does with one request.
enum Reply {
    /// Writes these bytes and waits for the next request.
    Send(&'static [u8]),
    /// Writes these bytes and closes.
    SendAndClose(&'static [u8]),
    /// Closes without answering.
    Close,
}

/// A scripted upstream: `reply(connection, request on it, request head)`.
/// Returns its address and how many connections it accepted.
async fn scripted(reply: fn(usize, usize, &str) -> Reply) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let conns = Arc::new(AtomicUsize::new(0));
    let counted = conns.clone();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            let n = counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(s, n, reply));
        }
    });
    (addr, conns)
}

async fn serve(mut s: TcpStream, conn: usize, reply: fn(usize, usize, &str) -> Reply) {
    let mut buf = Vec::new();
    for req in 0.. {
        let Some(end) = read_head(&mut s, &mut buf).await else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        match reply(conn, req, &head) {
            Reply::Send(bytes) => s.write_all(bytes).await.unwrap(),
            Reply::SendAndClose(bytes) => {
                s.write_all(bytes).await.unwrap();
                return;
            }
            Reply::Close => return,
        }
    }
}

/// Reads into `buf` until it holds a whole request head; returns where the head
/// ends, or None when the connection ends first.
async fn read_head(s: &mut (impl AsyncRead + Unpin), buf: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(i + 4);
        }
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn path(head: &str) -> &str {
    head.split(' ').nth(1).unwrap_or("")
}

async fn text_of(c: &reqwest::Client, url: String) -> String {
    c.get(url).send().await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn chunked_close_delimited_and_head_responses_reach_the_client_whole() {
    let (addr, conns) = scripted(|_, _, head| match path(head) {
        "/chunked" => Reply::Send(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
              5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n",
        ),
        "/close" => Reply::SendAndClose(b"HTTP/1.1 200 OK\r\n\r\nuntil the end"),
        _ if head.starts_with("HEAD ") => {
            Reply::Send(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
        }
        _ => Reply::Send(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfixed"),
    })
    .await;
    let side = Sidecar::start(&format!("http://{addr}"), "");
    let c = client();

    let resp = c.get(side.url("/chunked")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "hello world");
    // A HEAD's answer has no body whatever its Content-Length says, and the
    // connection carries on: the next request reuses it.
    let resp = c.head(side.url("/fixed")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-length"], "5");
    assert_eq!(text_of(&c, side.url("/fixed")).await, "fixed");
    assert_eq!(conns.load(Ordering::SeqCst), 1, "one connection so far");

    let resp = c.get(side.url("/close")).send().await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "until the end");
    // That connection ended with its body; the next request needs a new one.
    assert_eq!(text_of(&c, side.url("/fixed")).await, "fixed");
    assert_eq!(conns.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_malformed_upstream_response_is_a_502() {
    let (addr, _) = scripted(|_, _, head| {
        Reply::SendAndClose(match path(head) {
            "/two-lengths" => {
                b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd"
            }
            "/not-http" => b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
            "/upgrade" => b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n",
            _ => b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
        })
    })
    .await;
    let side = Sidecar::start(&format!("http://{addr}"), "");
    let c = client();
    for p in ["/two-lengths", "/not-http", "/upgrade"] {
        let resp = c.get(side.url(p)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_GATEWAY, "{p}");
        let body = resp.text().await.unwrap();
        assert!(body.contains("upstream_unavailable"), "{p}: {body}");
    }
    assert_eq!(c.get(side.url("/")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_body_cut_short_by_the_upstream_is_not_passed_off_as_whole() {
    let (addr, _) = scripted(|_, _, _| {
        Reply::SendAndClose(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part")
    })
    .await;
    let side = Sidecar::start(&format!("http://{addr}"), "");
    // The head may or may not have left before the cut was seen; either way the
    // client must not get a complete response.
    let got = async {
        let resp = client().get(side.url("/")).send().await?;
        resp.bytes().await
    }
    .await;
    assert!(got.is_err(), "the client must see the cut: {got:?}");
}

#[tokio::test]
async fn a_get_on_a_connection_the_upstream_dropped_goes_again_but_a_post_does_not() {
    // Each connection answers its first request and drops the second unanswered,
    // as an upstream does when its keep-alive timeout and a request cross.
    let (addr, conns) = scripted(|_, req, _| match req {
        0 => Reply::Send(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"),
        _ => Reply::Close,
    })
    .await;
    let side = Sidecar::start(&format!("http://{addr}"), "");
    let c = client();
    assert_eq!(c.get(side.url("/")).send().await.unwrap().status(), 200);
    // Nothing came back on the reused connection: a GET may be sent again.
    assert_eq!(c.get(side.url("/")).send().await.unwrap().status(), 200);
    assert_eq!(conns.load(Ordering::SeqCst), 2);
    // A POST may have had its effect before the upstream went away: not sent
    // twice, the client hears 502 instead.
    let resp = c.post(side.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(conns.load(Ordering::SeqCst), 2, "not retried");
}

#[tokio::test]
async fn bytes_past_the_end_of_a_response_retire_its_connection() {
    let (addr, conns) = scripted(|_, _, _| {
        Reply::Send(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n")
    })
    .await;
    let side = Sidecar::start(&format!("http://{addr}"), "");
    let c = client();
    for _ in 0..3 {
        let resp = c.get(side.url("/")).send().await.unwrap();
        assert_eq!(resp.text().await.unwrap(), "ok");
    }
    // What followed each answer could have been taken for the next one.
    assert_eq!(conns.load(Ordering::SeqCst), 3);
}

/// Over TLS as over TCP: a pooled connection the upstream closed while it sat
/// idle (close_notify, then FIN) is seen as closed before it is used, so even a
/// request that may not be sent twice (a POST) goes out on a fresh connection.
#[tokio::test]
async fn an_idle_connection_closed_by_a_tls_upstream_is_not_used() {
    let pki = palisade_tests::tls::Pki::new();
    let acceptor = pki.acceptor(&[b"http/1.1"]);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (conns, closed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (c2, d2) = (conns.clone(), closed.clone());
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            c2.fetch_add(1, Ordering::SeqCst);
            let (acceptor, closed) = (acceptor.clone(), d2.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(s).await else {
                    return;
                };
                // One answer, then the upstream's idle close.
                if read_head(&mut tls, &mut Vec::new()).await.is_none() {
                    return;
                }
                tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await
                    .unwrap();
                tls.shutdown().await.unwrap();
                closed.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    let side = Sidecar::start(
        &format!("https://127.0.0.1:{}", addr.port()),
        &format!("[upstream]\nca_bundle = \"{}\"\n", pki.ca_path.display()),
    );
    let c = client();
    assert_eq!(c.get(side.url("/")).send().await.unwrap().status(), 200);
    palisade_tests::eventually("the upstream closed its connection", || {
        closed.load(Ordering::SeqCst) == 1
    })
    .await;
    let resp = c.post(side.url("/")).send().await.unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "sent on the closed connection"
    );
    assert_eq!(conns.load(Ordering::SeqCst), 2);
}
