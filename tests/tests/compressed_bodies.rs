//! Compressed request bodies end to end: a gzip'd attack is caught on a block
//! route (inspection sees the decompressed bytes), the upstream of an allowed
//! request receives the client's compressed bytes exactly, a decompression bomb
//! (1 GiB of zeros, streamed) costs bounded memory and gets 413, a corrupt
//! stream 400, and a coding Palisade cannot decode 415 (or, configured so,
//! forwarded uninspected). Detect routes forward all of them.

use std::io::Write;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http::StatusCode;
use palisade_tests::sidecar::{Options, Sidecar};
use palisade_tests::upstream::Upstream;

const CONFIG: &str = r#"
    [routes]
    unknown = "deny"
    max_body_bytes = 4194304
    [signatures]
    body_bytes = 8192
    SIGNATURES
    [[route]]
    path = "/block"
    [[route]]
    path = "/watch"
    inspect = "detect"
"#;

const SQLI: &[u8] = br#"{"q":"1' UNION SELECT password FROM users--"}"#;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn start(up: &Upstream, extra: &str) -> Sidecar {
    Sidecar::start_with(
        &up.url(),
        &CONFIG.replace("SIGNATURES", extra),
        Options {
            no_analytics: true,
            ..Options::default()
        },
    )
}

async fn post(side: &Sidecar, path: &str, coding: &str, body: Vec<u8>) -> (StatusCode, Bytes) {
    let resp = reqwest::Client::new()
        .post(side.url(path))
        .header("content-type", "application/json")
        .header("content-encoding", coding)
        .body(body)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.bytes().await.unwrap())
}

fn reason(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    v["reason"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_gzipped_attack_is_blocked_and_an_allowed_body_reaches_the_upstream_unchanged() {
    let up = Upstream::echo().await;
    let side = start(&up, "");
    // The same attack uncompressed is caught: the baseline the gzip case must match.
    let (status, _) = post(&side, "/block", "identity", SQLI.to_vec()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for coding in ["gzip", "x-gzip"] {
        let (status, body) = post(&side, "/block", coding, gzip(SQLI)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{coding}");
        assert_eq!(reason(&body), "signature");
    }
    assert_eq!(up.count(), 0, "no attack reached the upstream");

    let benign = gzip(br#"{"q":"blue running shoes","page":2}"#);
    let (status, echoed) = post(&side, "/block", "gzip", benign.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        &echoed[..],
        &benign[..],
        "the upstream got the compressed bytes as sent"
    );
    let seen = up.seen();
    assert_eq!(seen[0].headers["content-encoding"], "gzip");
}

#[tokio::test]
async fn a_decompression_bomb_costs_bounded_memory_and_gets_413() {
    let up = Upstream::echo().await;
    let side = start(&up, "");
    // 1 GiB of zeros, one gzip member of about 1 MiB.
    let mut e = GzEncoder::new(Vec::new(), Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        e.write_all(&zeros).unwrap();
    }
    let bomb = Bytes::from(e.finish().unwrap());
    assert!(bomb.len() < 2 << 20, "{} bytes", bomb.len());

    let peak_before = peak_rss_kib();
    // Streamed in 64 KiB chunks (chunked framing), as a client uploading it would.
    let chunks: Vec<Result<Bytes, std::io::Error>> = bomb
        .chunks(64 * 1024)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let sent = reqwest::Client::new()
        .post(side.url("/block"))
        .header("content-encoding", "gzip")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await;
    match sent {
        Ok(resp) => {
            assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
            assert_eq!(reason(&resp.bytes().await.unwrap()), "body_too_large");
        }
        // Palisade answers and closes without reading the rest of the body; a
        // client still sending may hit the closed socket before it reads the
        // answer. The denial counter below says what Palisade decided.
        Err(e) => {
            let e = format!("{e:?}");
            assert!(
                e.contains("BrokenPipe") || e.contains("ConnectionReset"),
                "{e}"
            );
        }
    }
    let stats = side.palisade.proxy_stats();
    palisade_tests::eventually("the bomb is refused as body_too_large", || {
        stats.denied(palisade_models::DenyCode::BodyTooLarge) == 1
    })
    .await;
    assert_eq!(up.count(), 0);
    // Decompressing even a tenth of it would take 100 MiB; the window is 8 KiB.
    let grew = peak_rss_kib().saturating_sub(peak_before);
    assert!(grew < 64 * 1024, "peak RSS grew by {grew} KiB");

    // A detect route forwards it, byte for byte; the upstream decides.
    let (status, echoed) = post(&side, "/watch", "gzip", bomb.to_vec()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(echoed == bomb, "the upstream got the bomb as sent");
    let grew = peak_rss_kib().saturating_sub(peak_before);
    assert!(grew < 64 * 1024, "peak RSS grew by {grew} KiB");
}

/// The process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn corrupt_and_undecodable_bodies_get_their_answers() {
    let up = Upstream::echo().await;
    let side = start(&up, "");
    let mut corrupt = gzip(SQLI);
    corrupt[12] ^= 0xff;
    let (status, body) = post(&side, "/block", "gzip", corrupt.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reason(&body), "bad_request");
    for coding in ["br", "zstd", "compress", "gzip, gzip", "x-unknown"] {
        let (status, body) = post(&side, "/block", coding, gzip(SQLI)).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{coding}");
        assert_eq!(reason(&body), "unsupported_encoding");
    }
    assert_eq!(up.count(), 0);
    // Detect routes forward what they cannot inspect.
    let (status, echoed) = post(&side, "/watch", "gzip", corrupt.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&echoed[..], &corrupt[..]);
    let (status, _) = post(&side, "/watch", "br", b"\x0b\x02\x80ok\x03".to_vec()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(up.count(), 2);
}

#[tokio::test]
async fn undecodable_bodies_can_be_forwarded_uninspected() {
    let up = Upstream::echo().await;
    let side = start(&up, "undecodable_bodies = \"forward\"");
    let (status, echoed) = post(&side, "/block", "br", b"opaque".to_vec()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&echoed[..], b"opaque");
    // A corrupt gzip is still refused: it claims a coding Palisade decodes.
    let mut corrupt = gzip(SQLI);
    corrupt[12] ^= 0xff;
    let (status, _) = post(&side, "/block", "gzip", corrupt).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
