//! Concurrent load against sidecars for rate-limit checks: counts what was
//! admitted (200) and refused (429); any other answer fails the caller.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::StatusCode;

use crate::sidecar::Sidecar;

/// Sends requests to `path` on every sidecar, `per` at a time each, for `run`;
/// returns (admitted, refused, elapsed from the first send to the last answer).
pub async fn hammer(
    sides: &[&Sidecar],
    path: &str,
    per: usize,
    run: Duration,
) -> (u64, u64, Duration) {
    let http = reqwest::Client::new();
    let ok = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for s in sides {
        for _ in 0..per {
            let (http, url) = (http.clone(), s.url(path));
            let (ok, refused) = (ok.clone(), refused.clone());
            tasks.push(tokio::spawn(async move {
                while start.elapsed() < run {
                    match http.get(&url).send().await.map(|r| r.status()) {
                        Ok(StatusCode::OK) => ok.fetch_add(1, Ordering::Relaxed),
                        Ok(StatusCode::TOO_MANY_REQUESTS) => {
                            refused.fetch_add(1, Ordering::Relaxed)
                        }
                        other => panic!("{url}: {other:?}"),
                    };
                }
            }));
        }
    }
    for t in tasks {
        t.await.expect("a load task failed");
    }
    (
        ok.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
        start.elapsed(),
    )
}
