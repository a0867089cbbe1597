//! Batch analytics benchmark (issue 7): the cost of pushing events into the
//! event window (the only per-event cost batch analytics adds to the worker), the
//! memory a window of 1M events holds, and the time of one batch run over it
//! (frame, robust baselines, client features, KMeans fit and scoring) with
//! polars' pool at `POLARS_MAX_THREADS` (set it; the sidecar defaults to 1).
//!
//!   POLARS_MAX_THREADS=1 cargo run -p palisade-bench --release --bin batch
//!   POLARS_MAX_THREADS=1 cargo run -p palisade-bench --release --bin batch -- --events 200000

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use palisade_analytics::batch::batch_reader;
use palisade_analytics::window::{Window, WindowLimits};
use palisade_batch::{BatchRunner, polars_threads};
use palisade_models::{Config, ManualClock, RequestEvent};

const T0_MS: u64 = 1_800_000_000_000;

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// A realistic mix: 20k clients (a third authenticated), 60 endpoints of which
/// half templated, browser user agents, an hour of traffic.
fn events(n: usize) -> (Vec<RequestEvent>, Vec<Arc<str>>) {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let endpoints: Vec<Arc<str>> = (0..60usize)
        .map(|i| {
            if i.is_multiple_of(2) {
                format!("GET /api/v1/resource{i}/{{id}}").into()
            } else {
                format!("GET /api/v1/resource{i}").into()
            }
        })
        .collect();
    let agents = [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
        "okhttp/4.12.0",
        "python-requests/2.32.3",
    ];
    let span_us = 3_600_000_000u64;
    let evs = (0..n)
        .map(|i| {
            let client = next() % 20_000;
            let ep = (next() % 60) as usize;
            let path = if ep.is_multiple_of(2) {
                format!("/api/v1/resource{ep}/{}", next() % 100_000)
            } else {
                format!("/api/v1/resource{ep}")
            };
            RequestEvent {
                ts_unix_us: T0_MS * 1000 + i as u64 * span_us / n as u64,
                request_id: format!("0193a1b2-c3d4-7e5f-8a9b-{i:012x}").into(),
                client_ip: IpAddr::from([
                    10,
                    (client >> 16) as u8,
                    (client >> 8) as u8,
                    client as u8,
                ]),
                subject: client
                    .is_multiple_of(3)
                    .then(|| format!("user-{client}").into()),
                path: path.into(),
                host: Some("api.example.com".into()),
                status: if next().is_multiple_of(50) { 404 } else { 200 },
                latency_us: 500 + next() % 20_000,
                bytes_out: 200 + next() % 5000,
                user_agent: Some(agents[(client % 4) as usize].into()),
                ..RequestEvent::example()
            }
        })
        .collect();
    (evs, endpoints)
}

fn main() -> anyhow::Result<()> {
    let mut n = 1_000_000usize;
    let mut runs = 5usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--events" => n = args.next().unwrap_or_default().parse()?,
            "--runs" => runs = args.next().unwrap_or_default().parse()?,
            other => anyhow::bail!("unknown argument {other}; use --events N --runs N"),
        }
    }
    let config = Config::parse(
        "[upstream]\nurl = \"http://127.0.0.1:9\"\n[routes]\nunknown = \"allow\"\n",
    )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "batch bench: {n} events, {runs} runs, POLARS_MAX_THREADS={}",
        std::env::var("POLARS_MAX_THREADS").unwrap_or_else(|_| "(unset)".into())
    );
    let (evs, endpoints) = events(n);

    let rss_before = rss_kib("VmRSS:");
    let mut window = Window::new(WindowLimits {
        max_bytes: 1 << 34,
        max_age_ms: 86_400_000,
    });
    let start = Instant::now();
    for (i, ev) in evs.iter().enumerate() {
        let ep = &endpoints[(i * 7) % endpoints.len()];
        window.push(ev, Some(ep));
    }
    window.seal();
    let push = start.elapsed();
    let rss_window = rss_kib("VmRSS:");
    drop(evs);
    println!(
        "window push: {:.1} ns/event; window holds {} events in {:.1} MiB ({:.0} bytes/event); process RSS +{:.1} MiB while filling it",
        push.as_nanos() as f64 / n as f64,
        window.len(),
        window.bytes() as f64 / 1048576.0,
        window.bytes() as f64 / n as f64,
        rss_window.saturating_sub(rss_before) as f64 / 1024.0,
    );

    let clock = Arc::new(ManualClock::new(
        std::time::UNIX_EPOCH + Duration::from_millis(T0_MS + 3_600_000),
    ));
    let view = batch_reader();
    let mut runner = BatchRunner::new(
        &config,
        window.reader(),
        view.clone(),
        None,
        clock.clone(),
        T0_MS,
    )?;
    println!("polars threads: {}", polars_threads());
    // Resets the peak-RSS mark (Linux), so VmHWM below is the runs' own peak.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before_runs = rss_kib("VmRSS:");
    let mut times = Vec::new();
    for r in 0..runs {
        // Every run refits (an hour later each time), as the first after a start.
        clock.advance(Duration::from_secs(3600));
        let report = runner.run_once()?;
        times.push(report.compute);
        println!(
            "run {r}: {:.0} ms (events {}, endpoints {}, clients {}, scored {}, unusual {}, fitted {})",
            report.compute.as_secs_f64() * 1000.0,
            report.events,
            report.endpoints,
            report.clients,
            report.scored,
            report.unusual,
            report.fitted
        );
    }
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "recompute over {n} events: median {:.0} ms, min {:.0} ms, max {:.0} ms (target < 1000 ms)",
        median.as_secs_f64() * 1000.0,
        times[0].as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0
    );
    println!(
        "memory: window {:.1} MiB; peak RSS during runs {:.1} MiB above the RSS before them ({:.1} MiB)",
        window.bytes() as f64 / 1048576.0,
        rss_kib("VmHWM:").saturating_sub(rss_before_runs) as f64 / 1024.0,
        rss_before_runs as f64 / 1024.0,
    );
    Ok(())
}
