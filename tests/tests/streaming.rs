//! Bodies stream in both directions and are never buffered whole: 1 GiB up and
//! 1 GiB down pass through the proxy while the process's resident memory stays
//! within a small bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use palisade_tests::sidecar::Sidecar;
use palisade_tests::upstream::{Body, Upstream, streamed_bytes};

const GIB: u64 = 1024 * 1024 * 1024;
/// Growth of resident memory allowed while a GiB passes: buffers and pools, not
/// the body.
const RSS_BOUND: u64 = 128 * 1024 * 1024;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}

/// Samples resident memory until dropped; reports the peak.
struct Peak {
    peak: Arc<AtomicU64>,
    stop: tokio_util::sync::CancellationToken,
}

impl Peak {
    fn start() -> Peak {
        let peak = Arc::new(AtomicU64::new(rss_bytes()));
        let stop = tokio_util::sync::CancellationToken::new();
        let (p, s) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.is_cancelled() {
                p.fetch_max(rss_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Peak { peak, stop }
    }

    fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for Peak {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn count_body(req: Request<Incoming>) -> Response<Body> {
    let mut body = req.into_body();
    let mut n = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("upstream body").into_data() {
            n += data.len() as u64;
        }
    }
    Response::new(
        http_body_util::Full::new(Bytes::from(n.to_string()))
            .map_err(|e| match e {})
            .boxed(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gib_streams_up_and_down_with_bounded_memory() {
    let up = Upstream::start(|req: Request<Incoming>| async move {
        if req.method() == http::Method::POST {
            count_body(req).await
        } else {
            let mut r = Response::new(streamed_bytes(GIB));
            *r.status_mut() = StatusCode::OK;
            r
        }
    })
    .await;
    let side = Sidecar::start(
        &up.url(),
        "[upstream]\nresponse_timeout = \"120s\"\n[routes]\nmax_body_bytes = 2147483648\n",
    );
    let client = reqwest::Client::new();
    // Warm up pools and allocators before the baseline.
    assert_eq!(
        client.get(side.url("/warm")).send().await.unwrap().status(),
        200
    );
    let baseline = rss_bytes();
    let peak = Peak::start();

    let chunk = Bytes::from(vec![b'u'; 64 * 1024]);
    let chunks = (GIB / chunk.len() as u64) as usize;
    let stream =
        futures_util::stream::iter(std::iter::repeat_n(chunk, chunks).map(Ok::<_, std::io::Error>));
    let resp = client
        .post(side.url("/upload"))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), GIB.to_string());

    let mut down = client.get(side.url("/download")).send().await.unwrap();
    assert_eq!(down.status(), StatusCode::OK);
    let mut received = 0u64;
    while let Some(c) = down.chunk().await.unwrap() {
        received += c.len() as u64;
    }
    assert_eq!(received, GIB);

    let grew = peak.peak().saturating_sub(baseline);
    assert!(
        grew < RSS_BOUND,
        "resident memory grew by {} MiB while streaming",
        grew / (1024 * 1024)
    );
}
