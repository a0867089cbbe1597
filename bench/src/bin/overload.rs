//! Overload figures (issue 10): what Palisade does when offered more than the
//! upstream can serve, with load shedding (`proxy.limits.max_in_flight`) and
//! without it (`max_in_flight = 0`).
//!
//! Usage:
//!
//! ```text
//! cargo build --release -p palisade-bench --bin overload -p palisade
//! $CARGO_TARGET_DIR/release/overload | tee bench/results/overload-$(date +%F).txt
//! ```
//!
//! Knobs (environment, defaults in brackets): `PALISADE_BIN` [the `palisade`
//! next to this binary], `UPSTREAM_CONCURRENCY` [8] requests the upstream serves
//! at once (more wait in its queue, as in a thread-pool server),
//! `SERVICE_MS` [5] each one's service time, `MAX_IN_FLIGHT` [2 x
//! UPSTREAM_CONCURRENCY] the shedding proxy's cap, `STEP_SECS` [4] per offered
//! rate, `CLIENT_TIMEOUT_MS` [1000] after which a client gives up (an error),
//! `WORKERS` [2] proxy workers.
//!
//! What it does: starts an upstream in this process (axum, on its own runtime
//! thread: `UPSTREAM_CONCURRENCY` permits, each request sleeping `SERVICE_MS`
//! while holding one, so its capacity is finite and costs no CPU), and two real
//! `palisade run` processes in front of it, one shedding and one not. It
//! measures capacity closed-loop through the non-shedding proxy, then offers
//! fixed rates from 0.25x to 3x that capacity, open-loop: requests start on a
//! schedule whatever the answers, each on its own task, and latency is counted
//! from the scheduled start (no coordinated omission), so queueing shows. At each
//! rate both proxies are measured in turn, and the upstream's queue is left to
//! drain between runs. It prints, per proxy: offered req/s | answered 2xx/s |
//! shed 503/s | errors/s (anything else: timeouts, 5xx, resets) | p50 | p99 |
//! p99.9 of the 2xx answers.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use palisade_tests::binary::Running;
use tokio::sync::Semaphore;

/// The bench's settings, from the environment.
#[derive(Debug, Clone)]
struct Knobs {
    bin: PathBuf,
    concurrency: usize,
    service: Duration,
    max_in_flight: usize,
    step: Duration,
    timeout: Duration,
    workers: usize,
}

impl Knobs {
    fn from_env() -> anyhow::Result<Knobs> {
        fn num(name: &str, default: u64) -> anyhow::Result<u64> {
            match std::env::var(name) {
                Ok(v) => v
                    .parse()
                    .with_context(|| format!("{name}={v}: expected a whole number")),
                Err(_) => Ok(default),
            }
        }
        let bin = match std::env::var_os("PALISADE_BIN") {
            Some(b) => PathBuf::from(b),
            None => std::env::current_exe()?
                .parent()
                .context("this binary's directory")?
                .join("palisade"),
        };
        if !bin.exists() {
            bail!(
                "{} not found: build it with `cargo build --release -p palisade`, or set PALISADE_BIN",
                bin.display()
            );
        }
        let concurrency = num("UPSTREAM_CONCURRENCY", 8)? as usize;
        Ok(Knobs {
            bin,
            concurrency,
            service: Duration::from_millis(num("SERVICE_MS", 5)?),
            max_in_flight: num("MAX_IN_FLIGHT", 2 * concurrency as u64)? as usize,
            step: Duration::from_secs(num("STEP_SECS", 4)?),
            timeout: Duration::from_millis(num("CLIENT_TIMEOUT_MS", 1000)?),
            workers: num("WORKERS", 2)? as usize,
        })
    }
}

/// The upstream's requests being served or waiting for a permit.
#[derive(Debug, Default)]
struct UpstreamLoad {
    busy: AtomicU64,
}

/// Counts one upstream request from arrival until it ends or is dropped.
#[derive(Debug)]
struct Busy(Arc<UpstreamLoad>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Starts the upstream on a runtime thread of its own; its URL and load gauge.
fn start_upstream(k: &Knobs) -> anyhow::Result<(String, Arc<UpstreamLoad>)> {
    let load = Arc::new(UpstreamLoad::default());
    let permits = Arc::new(Semaphore::new(k.concurrency));
    let service = k.service;
    let (tx, rx) = std::sync::mpsc::channel();
    let gauge = load.clone();
    std::thread::Builder::new()
        .name("bench-upstream".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(anyhow::Error::from(e)));
                    return;
                }
            };
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = tx.send(Err(e.into()));
                        return;
                    }
                };
                let _ = tx.send(listener.local_addr().map_err(Into::into));
                let app = axum::Router::new().fallback(move || {
                    let (permits, gauge) = (permits.clone(), gauge.clone());
                    async move {
                        gauge.busy.fetch_add(1, Ordering::Relaxed);
                        let _busy = Busy(gauge);
                        // Closed only if dropped, which it never is.
                        let _permit = permits.acquire().await;
                        tokio::time::sleep(service).await;
                        "ok\n"
                    }
                });
                if let Err(e) = axum::serve(listener, app).await {
                    eprintln!("bench upstream stopped: {e}");
                }
            });
        })?;
    let addr = rx.recv().context("the upstream thread")??;
    Ok((format!("http://{addr}"), load))
}

fn palisade_config(upstream: &str, k: &Knobs, max_in_flight: usize) -> String {
    format!(
        r#"
[proxy]
workers = {workers}
listen = ["127.0.0.1:0"]
[proxy.limits]
max_in_flight = {max_in_flight}
[upstream]
url = "{upstream}"
response_timeout = "5s"
[routes]
unknown = "allow"
[log]
format = "json"
# info: `Running::start` waits for the "proxy listening" line (no access log).
level = "info"
# Analytics runs as deployed, but must not block the bench's one client.
[decisions]
allow_cidrs = ["127.0.0.0/8"]
[admin]
listen = "127.0.0.1:0"
"#,
        workers = k.workers,
    )
}

/// What one run at one offered rate got.
#[derive(Debug)]
struct Outcome {
    offered: f64,
    ok: u64,
    shed: u64,
    errors: u64,
    secs: f64,
    latency: Histogram<u64>,
}

#[derive(Debug)]
struct Tally {
    ok: AtomicU64,
    shed: AtomicU64,
    errors: AtomicU64,
    /// Microseconds from each 2xx request's scheduled start to its last byte.
    latency: Mutex<Histogram<u64>>,
}

/// Offers `rate` req/s to `url` for `k.step`, open-loop.
async fn offer(http: &reqwest::Client, url: &str, rate: f64, k: &Knobs) -> anyhow::Result<Outcome> {
    let tally = Arc::new(Tally {
        ok: AtomicU64::new(0),
        shed: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        latency: Mutex::new(Histogram::new_with_bounds(1, 120_000_000, 3)?),
    });
    let total = (rate * k.step.as_secs_f64()).round() as u64;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sent = 0u64;
    while sent < total {
        tick.tick().await;
        // Everything due by now starts now, each timed from when it was due.
        let due = ((start.elapsed().as_secs_f64() * rate) as u64 + 1).min(total);
        while sent < due {
            let scheduled = start + interval * sent as u32;
            let (http, url, tally, timeout) =
                (http.clone(), url.to_string(), tally.clone(), k.timeout);
            tasks.spawn(async move {
                let answer = tokio::time::timeout(timeout, async {
                    let r = http.get(&url).send().await?;
                    let status = r.status();
                    r.bytes().await?;
                    Ok::<_, reqwest::Error>(status)
                })
                .await;
                match answer {
                    Ok(Ok(s)) if s.is_success() => {
                        tally.ok.fetch_add(1, Ordering::Relaxed);
                        let us = scheduled.elapsed().as_micros() as u64;
                        if let Ok(mut h) = tally.latency.lock() {
                            let _ = h.record(us.max(1));
                        }
                    }
                    Ok(Ok(s)) if s == http::StatusCode::SERVICE_UNAVAILABLE => {
                        tally.shed.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        tally.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
            sent += 1;
        }
        // Reap finished tasks so the set does not grow with the run.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let secs = k.step.as_secs_f64();
    let latency = tally
        .latency
        .lock()
        .map_err(|_| anyhow::anyhow!("latency lock poisoned"))?
        .clone();
    Ok(Outcome {
        offered: total as f64 / secs,
        ok: tally.ok.load(Ordering::Relaxed),
        shed: tally.shed.load(Ordering::Relaxed),
        errors: tally.errors.load(Ordering::Relaxed),
        secs,
        latency,
    })
}

/// Closed loop, 4x the upstream's concurrency, for 3 s: answered 2xx per second.
async fn capacity(http: &reqwest::Client, url: &str, k: &Knobs) -> anyhow::Result<f64> {
    let ok = Arc::new(AtomicU64::new(0));
    let run = Duration::from_secs(3);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..4 * k.concurrency {
        let (http, url, ok) = (http.clone(), url.to_string(), ok.clone());
        tasks.spawn(async move {
            while start.elapsed() < run {
                if let Ok(r) = http.get(&url).send().await
                    && r.status().is_success()
                    && r.bytes().await.is_ok()
                {
                    ok.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    Ok(ok.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

/// Waits (up to 60 s) until the upstream has nothing left from the last run.
async fn drained(load: &UpstreamLoad) -> anyhow::Result<()> {
    let t0 = Instant::now();
    while load.busy.load(Ordering::Relaxed) > 0 {
        if t0.elapsed() > Duration::from_secs(60) {
            bail!("the upstream's queue did not drain within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

fn print_table(title: &str, rows: &[Outcome]) {
    println!("{title}");
    println!(
        "{:>10} {:>12} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "offered/s", "answered2xx/s", "shed503/s", "errors/s", "p50 ms", "p99 ms", "p99.9 ms"
    );
    for o in rows {
        let q = |p: f64| {
            if o.latency.is_empty() {
                "-".to_string()
            } else {
                format!("{:.1}", o.latency.value_at_quantile(p) as f64 / 1000.0)
            }
        };
        println!(
            "{:>10.0} {:>12.0} {:>10.0} {:>10.0} {:>10} {:>10} {:>10}",
            o.offered,
            o.ok as f64 / o.secs,
            o.shed as f64 / o.secs,
            o.errors as f64 / o.secs,
            q(0.5),
            q(0.99),
            q(0.999)
        );
    }
    println!();
}

async fn bench(k: Knobs, upstream: String, load: Arc<UpstreamLoad>) -> anyhow::Result<()> {
    let shedding = Running::start(&k.bin, &palisade_config(&upstream, &k, k.max_in_flight));
    let unbounded = Running::start(&k.bin, &palisade_config(&upstream, &k, 0));
    let http = reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .build()?;
    let shed_url = format!("http://{}/work", shedding.addr);
    let open_url = format!("http://{}/work", unbounded.addr);
    let cap = capacity(&http, &open_url, &k).await?;
    drained(&load).await?;
    let ideal = k.concurrency as f64 / k.service.as_secs_f64();
    println!(
        "Palisade overload bench, {}",
        std::process::Command::new("date")
            .args(["-u", "+%FT%TZ"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    );
    println!("palisade: {} ({} workers)", k.bin.display(), k.workers);
    println!(
        "upstream: {} at once, {} ms each (ideal {ideal:.0} req/s), FIFO queue beyond",
        k.concurrency,
        k.service.as_millis()
    );
    println!(
        "client:   open loop, {} s per rate, gives up after {} ms; latency from the scheduled start",
        k.step.as_secs(),
        k.timeout.as_millis()
    );
    if let Ok(l) = std::fs::read_to_string("/proc/loadavg") {
        println!("load:     {}", l.trim());
    }
    println!(
        "measured capacity (closed loop, {} clients): {cap:.0} req/s\n",
        4 * k.concurrency
    );
    let factors = [0.25, 0.5, 0.75, 0.9, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0];
    let (mut shed_rows, mut open_rows) = (Vec::new(), Vec::new());
    for f in factors {
        let rate = (cap * f).max(1.0);
        shed_rows.push(offer(&http, &shed_url, rate, &k).await?);
        drained(&load).await?;
        open_rows.push(offer(&http, &open_url, rate, &k).await?);
        drained(&load).await?;
    }
    print_table(
        &format!(
            "with shedding: proxy.limits.max_in_flight = {}",
            k.max_in_flight
        ),
        &shed_rows,
    );
    print_table(
        "without shedding: proxy.limits.max_in_flight = 0",
        &open_rows,
    );
    if let Ok(l) = std::fs::read_to_string("/proc/loadavg") {
        println!("load at the end: {}", l.trim());
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let k = Knobs::from_env()?;
    let (upstream, load) = start_upstream(&k)?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(bench(k, upstream, load))
}
