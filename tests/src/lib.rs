//! Test support for the end-to-end suite: real upstreams on 127.0.0.1:0, the real
//! sidecar in-process (or as the real binary), raw-socket helpers for what HTTP
//! clients refuse to send, throwaway certificates, and a bounded `eventually`
//! instead of sleeps.

pub mod admin;
pub mod binary;
pub mod corpus;
pub mod framing;
pub mod h2raw;
pub mod jws;
pub mod load;
pub mod raw;
pub mod recording;
pub mod redis;
pub mod secrets;
pub mod sidecar;
pub mod syslog;
pub mod tls;
pub mod upstream;

use std::time::Duration;

/// How long `eventually` waits before failing the test.
pub const EVENTUALLY: Duration = Duration::from_secs(10);

/// Sensitive paths a scanner asks for, enough to raise a `probing` finding
/// (default threshold three). The detector counts distinct paths exactly, by
/// 16-bit fingerprints of a hash seeded per process; a fourth path covers the
/// one run in about 22,000 where two of three share a fingerprint. (Until
/// the detector counted in a 64-bit bitmap, three paths shared a bit one run
/// in 22.) Four, not more: a fifth request from a client with a hostile
/// User-Agent would also raise a `signature` finding (five hits), which the
/// SIEM test does not expect.
pub const PROBES: [&str; 4] = ["/.env", "/.git/config", "/backup.sql", "/server-status"];

/// Polls `check` until it holds, failing the test after `EVENTUALLY`. The only
/// waiting a test does: on an observable condition, bounded.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + EVENTUALLY;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `eventually` for a check that must await (an HTTP call): polls until it
/// returns a value, failing the test after `EVENTUALLY`.
pub async fn eventually_async<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + EVENTUALLY;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Hex SHA-256 of an API key, as `[[auth.api_keys.key]] sha256` takes it.
pub fn sha256_hex(key: &str) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
