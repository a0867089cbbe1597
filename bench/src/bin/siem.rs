//! Prints what the README quotes for SIEM delivery: records per second from
//! Palisade's durable outbox to a real rsyslogd over TCP (RFC 5424 carrying CEF,
//! octet counting) and to a local Splunk-HEC-like HTTP receiver (gzip, batches of
//! 100), one sink at a time.
//!
//! For each sink: a fresh store in a temporary directory, one sink configured,
//! the forwarder started, then `N` findings queued through `Store::insert_findings`
//! in batches of 1000 (one transaction and fsync each, on a thread of its own)
//! while the forwarder drains. records/s is `N` over the time from the first
//! queueing call to the moment the sink's `delivered` counter (counted after the
//! outbox acknowledged) reached `N`. Latency is per record, from the commit that
//! queued it to the poll (every 2 ms) that saw it delivered. What the receiver got
//! is counted on its side: rsyslog's output file, the events the HEC receiver
//! parsed.
//!
//! Run: `cargo run -p palisade-bench --release --bin siem` (`N=10000` for fewer
//! findings).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use palisade_models::config::SiemConfig;
use palisade_models::{
    Finding, FindingClient, FindingId, FindingKind, FindingRequest, Severity, SystemClock,
};
use palisade_siem::{Siem, SiemHandle};
use palisade_store::{OutboxPolicy, Store};
use palisade_tests::syslog::Rsyslog;
use tokio_util::sync::CancellationToken;

/// Findings per `insert_findings` call: one transaction, one fsync.
const QUEUE_BATCH: usize = 1000;
/// How often the sink's `delivered` counter is read.
const POLL: Duration = Duration::from_millis(2);
/// The longest one sink may take to deliver everything.
const DEADLINE: Duration = Duration::from_secs(180);
/// Records per write (syslog) or request (HEC), and per outbox acknowledgement.
const SINK_BATCH: usize = 100;
const HEC_TOKEN_ENV: &str = "BENCH_HEC_TOKEN";
const HEC_TOKEN: &str = "bench-hec-token";
const COMMAND: &str = "cargo run -p palisade-bench --release --bin siem";

/// What one sink's run measured.
struct Run {
    label: String,
    n: usize,
    /// From the first queueing call to the last delivery.
    wall: Duration,
    /// Queueing all `n` findings (concurrently with delivery).
    queueing: Duration,
    /// Delivered when queueing ended.
    delivered_at_queue_end: u64,
    latencies: Vec<Duration>,
    /// Counted by the receiver.
    received: usize,
    distinct: Option<usize>,
    retries: u64,
    dead_letters: u64,
    /// The forwarder's own mean latency (`latency_sum_ms / delivered`).
    counter_mean_ms: f64,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let n: usize = match std::env::var("N") {
        Ok(v) => v
            .trim()
            .replace('_', "")
            .parse()
            .with_context(|| format!("N={v}: not a number of findings"))?,
        Err(_) => 50_000,
    };
    if n == 0 {
        bail!("N must be at least 1");
    }
    let scratch = tempfile::tempdir().context("temporary directory for the stores")?;
    println!("{}", machine(scratch.path()));

    let ack = ack_cost(scratch.path())?;
    let stages = stages(scratch.path())?;
    let rsyslog_version = rsyslog_version();
    let runs = vec![
        syslog_run(n, scratch.path(), &rsyslog_version).await?,
        hec_run(n, scratch.path()).await?,
    ];

    println!();
    println!("SIEM delivery, {n} findings queued while the forwarder drains (one sink at a time)");
    println!(
        "{:<34} {:>10} {:>10} {:>12} {:>12} {:>8}",
        "sink", "records/s", "received", "p50 latency", "p99 latency", "wall"
    );
    for r in &runs {
        let received = match r.distinct {
            Some(d) if d != r.received => format!("{} ({d} ids)", r.received),
            _ => r.received.to_string(),
        };
        println!(
            "{:<34} {:>10.0} {:>10} {:>12} {:>12} {:>8}",
            r.label,
            r.n as f64 / r.wall.as_secs_f64(),
            received,
            ms(percentile(&r.latencies, 0.50)),
            ms(percentile(&r.latencies, 0.99)),
            format!("{:.2} s", r.wall.as_secs_f64()),
        );
    }
    println!(
        "latency: from the commit that queued a record to the poll that saw it delivered \
         (acknowledged in the outbox); all {n} are queued at once, so it is mostly waiting \
         behind the backlog"
    );
    println!();
    for r in &runs {
        let behind = r.n as u64 - r.delivered_at_queue_end.min(r.n as u64);
        let tail = r.wall.saturating_sub(r.queueing);
        let batches = behind as f64 / SINK_BATCH as f64;
        let every = if batches >= 1.0 {
            format!(
                " (a batch of {SINK_BATCH} every {})",
                ms(tail.div_f64(batches))
            )
        } else {
            String::new()
        };
        println!(
            "{}: queued in {:.2} s ({:.0} findings/s, {QUEUE_BATCH} per commit), {behind} of \
             them not yet delivered then, delivered in the {:.2} s after{every}; forwarder's \
             own mean latency {:.0} ms; retries {}, dead letters {}",
            r.label,
            r.queueing.as_secs_f64(),
            r.n as f64 / r.queueing.as_secs_f64(),
            tail.as_secs_f64(),
            r.counter_mean_ms,
            r.retries,
            r.dead_letters,
        );
    }
    println!(
        "one batch of {SINK_BATCH}, step by step on an idle store (medians of {} batches): outbox \
         read {}, ack {} (an ack past 1 record: {}, the fsync floor); syslog format {}; HEC \
         format + gzip {}, receiver gunzip + parse {}",
        stages.read.len(),
        ms(percentile(&stages.read, 0.5)),
        ms(percentile(&stages.ack, 0.5)),
        ms(percentile(&ack, 0.5)),
        ms(percentile(&stages.syslog, 0.5)),
        ms(percentile(&stages.hec, 0.5)),
        ms(percentile(&stages.hec_receive, 0.5)),
    );
    let n_prefix = if n == 50_000 {
        String::new()
    } else {
        format!("N={n} ")
    };
    println!("command: {n_prefix}{COMMAND}");
    Ok(())
}

/// The syslog sink against a real rsyslogd.
async fn syslog_run(n: usize, scratch: &std::path::Path, version: &str) -> anyhow::Result<Run> {
    let rsyslog = Rsyslog::start(None).context("starting rsyslogd")?;
    let toml = format!(
        "[[siem.sinks]]\nname = \"soc\"\ntype = \"syslog\"\ntransport = \"tcp\"\n\
         address = \"{}\"\nbatch_max = {SINK_BATCH}\nbackoff_min = \"10ms\"\n\
         backoff_max = \"200ms\"\n",
        rsyslog.tcp
    );
    let label = format!("syslog tcp -> rsyslog {version}");
    let mut run = drive(&label, n, scratch, "syslog", &toml).await?;
    let got = rsyslog
        .wait_for(n, Duration::from_secs(60))
        .await
        .context("rsyslog did not write every message")?;
    run.received = got.len();
    Ok(run)
}

/// The splunk_hec sink against the local receiver.
async fn hec_run(n: usize, scratch: &std::path::Path) -> anyhow::Result<Run> {
    let receiver = HecReceiver::start().await?;
    let toml = format!(
        "[[siem.sinks]]\nname = \"splunk\"\ntype = \"splunk_hec\"\nurl = \"http://{}\"\n\
         token_env = \"{HEC_TOKEN_ENV}\"\ngzip = true\nbatch_max = {SINK_BATCH}\n\
         backoff_min = \"10ms\"\nbackoff_max = \"200ms\"\n",
        receiver.addr
    );
    let label = format!("splunk_hec (gzip, batch {SINK_BATCH})");
    let mut run = drive(&label, n, scratch, "hec", &toml).await?;
    let (events, distinct) = receiver.counts();
    if receiver.got.refused.load(Ordering::Relaxed) > 0 {
        bail!(
            "the HEC receiver refused {} requests",
            receiver.got.refused.load(Ordering::Relaxed)
        );
    }
    run.received = events;
    run.distinct = Some(distinct);
    Ok(run)
}

/// Builds the one sink of `toml` over a fresh store, starts it, queues `n`
/// findings and waits until the sink has delivered them all.
async fn drive(
    label: &str,
    n: usize,
    scratch: &std::path::Path,
    file: &str,
    toml: &str,
) -> anyhow::Result<Run> {
    let store = Arc::new(Store::open(&scratch.join(format!("{file}.redb")))?);
    let env = |var: &str| (var == HEC_TOKEN_ENV).then(|| HEC_TOKEN.to_string());
    let siem = Siem::build_with_env(&siem_config(toml)?, store.clone(), &env)?;
    let stop = CancellationToken::new();
    let handle = siem.spawn(Arc::new(SystemClock::new()), stop.clone());

    let queuer = {
        let store = store.clone();
        std::thread::spawn(move || queue(&store, n))
    };
    let start_rx = Instant::now();
    let samples = poll_delivered(&handle, n as u64, start_rx).await;
    let (start, commits, queue_end) = queuer
        .join()
        .map_err(|_| anyhow!("the queueing thread panicked"))??;
    stop.cancel();
    let samples = samples.with_context(|| format!("{label}: {:?}", handle.status().sinks[0]))?;
    let Some(&(done, _)) = samples.last() else {
        bail!("{label}: no delivery seen");
    };

    // Record i is queued by commit i / QUEUE_BATCH and delivered at the first poll
    // that counted more than i (one sink delivers the outbox in order).
    let mut latencies = Vec::with_capacity(n);
    let mut s = 0;
    for i in 0..n {
        while samples[s].1 <= i as u64 {
            s += 1;
        }
        latencies.push(
            samples[s]
                .0
                .saturating_duration_since(commits[i / QUEUE_BATCH]),
        );
    }
    latencies.sort_unstable();
    let delivered_at_queue_end = samples
        .iter()
        .take_while(|(t, _)| *t <= queue_end)
        .last()
        .map_or(0, |&(_, d)| d);
    let status = handle.status().sinks[0].clone();
    if status.delivered != n as u64 {
        bail!("{label}: delivered {} of {n}", status.delivered);
    }
    Ok(Run {
        label: label.to_string(),
        n,
        wall: done.duration_since(start),
        queueing: queue_end.duration_since(start),
        delivered_at_queue_end,
        latencies,
        received: 0,
        distinct: None,
        retries: status.retries,
        dead_letters: status.dead_letters,
        counter_mean_ms: status.latency_sum_ms as f64 / status.delivered.max(1) as f64,
    })
}

/// Queues `n` findings in batches; returns the start, each batch's commit time
/// and the end.
fn queue(store: &Store, n: usize) -> anyhow::Result<(Instant, Vec<Instant>, Instant)> {
    let mut commits = Vec::with_capacity(n.div_ceil(QUEUE_BATCH));
    let start = Instant::now();
    let mut next = 0;
    while next < n {
        let end = (next + QUEUE_BATCH).min(n);
        let now = palisade_models::unix_ms(std::time::SystemTime::now());
        let batch: Vec<Finding> = (next..end).map(|i| finding(now, i)).collect();
        store.insert_findings(&batch).context("queueing findings")?;
        commits.push(Instant::now());
        next = end;
    }
    Ok((start, commits, Instant::now()))
}

/// Reads the sink's `delivered` counter every `POLL` until it reaches `n`;
/// returns each change with when it was seen.
async fn poll_delivered(
    handle: &SiemHandle,
    n: u64,
    start: Instant,
) -> anyhow::Result<Vec<(Instant, u64)>> {
    let mut samples: Vec<(Instant, u64)> = Vec::with_capacity(4096);
    loop {
        let delivered = handle.status().sinks[0].delivered;
        if samples.last().is_none_or(|&(_, d)| d != delivered) {
            samples.push((Instant::now(), delivered));
        }
        if delivered >= n {
            return Ok(samples);
        }
        if start.elapsed() > DEADLINE {
            bail!("{delivered} of {n} delivered within {DEADLINE:?}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The time of `ack_count` outbox acknowledgements one at a time on an idle
/// store: the fixed cost a sink pays per batch.
fn ack_cost(scratch: &std::path::Path) -> anyhow::Result<Vec<Duration>> {
    const ACKS: usize = 200;
    let store = Store::open(&scratch.join("acks.redb"))?;
    let policy = OutboxPolicy {
        mask: palisade_models::SiemCategory::Findings.bit(),
        max_records: 100_000,
        when_full: palisade_models::config::WhenFull::DropOldest,
    };
    store.configure_outbox(policy, &["probe"])?;
    let now = palisade_models::unix_ms(std::time::SystemTime::now());
    let batch: Vec<Finding> = (0..ACKS).map(|i| finding(now, i)).collect();
    store.insert_findings(&batch)?;
    let mut times = Vec::with_capacity(ACKS);
    for seq in 1..=ACKS as u64 {
        let t = Instant::now();
        store.outbox_ack("probe", seq)?;
        times.push(t.elapsed());
    }
    times.sort_unstable();
    Ok(times)
}

/// Per-batch times of each step of a sink's loop, run one after the other.
struct Stages {
    read: Vec<Duration>,
    ack: Vec<Duration>,
    syslog: Vec<Duration>,
    hec: Vec<Duration>,
    hec_receive: Vec<Duration>,
}

/// Runs a sink's loop by hand over 10000 queued findings, timing each step: what
/// a batch costs without the transport and the concurrency.
fn stages(scratch: &std::path::Path) -> anyhow::Result<Stages> {
    use palisade_siem::format;
    use std::io::{Read, Write};
    const RECORDS: usize = 10_000;
    let store = Store::open(&scratch.join("stages.redb"))?;
    let mask = palisade_models::SiemCategory::Findings.bit();
    let policy = OutboxPolicy {
        mask,
        max_records: 100_000,
        when_full: palisade_models::config::WhenFull::DropOldest,
    };
    store.configure_outbox(policy, &["probe"])?;
    let now = palisade_models::unix_ms(std::time::SystemTime::now());
    for start in (0..RECORDS).step_by(QUEUE_BATCH) {
        let batch: Vec<Finding> = (start..start + QUEUE_BATCH)
            .map(|i| finding(now, i))
            .collect();
        store.insert_findings(&batch)?;
    }
    let source = format::SiemSource {
        hostname: "bench-host".into(),
        product: "Palisade".into(),
        version: "0.1.0".into(),
    };
    let syslog = format::syslog::SyslogOptions {
        facility: 16,
        app_name: "palisade".into(),
    };
    let hec = format::hec::HecOptions {
        index: None,
        source: "palisade".into(),
        sourcetype: "palisade:ocsf".into(),
        schema: format::Schema::Ocsf,
    };
    let mut st = Stages {
        read: Vec::new(),
        ack: Vec::new(),
        syslog: Vec::new(),
        hec: Vec::new(),
        hec_receive: Vec::new(),
    };
    loop {
        let t = Instant::now();
        let batch = store.outbox_batch("probe", mask, SINK_BATCH)?;
        st.read.push(t.elapsed());
        if batch.records.is_empty() {
            st.read.pop();
            break;
        }

        let t = Instant::now();
        let mut framed = Vec::with_capacity(SINK_BATCH * 1024);
        for r in &batch.records {
            framed.extend_from_slice(&format::syslog::octet_frame(&format::syslog::message(
                r, &source, &syslog,
            )));
        }
        std::hint::black_box(&framed);
        st.syslog.push(t.elapsed());

        let t = Instant::now();
        let events: Vec<_> = batch
            .records
            .iter()
            .map(|r| format::hec::event(r, &source, &hec))
            .collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&format::hec::batch(&events))?;
        let body = gz.finish()?;
        st.hec.push(t.elapsed());

        let t = Instant::now();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&body[..]).read_to_string(&mut text)?;
        let parsed = serde_json::Deserializer::from_str(&text)
            .into_iter::<serde_json::Value>()
            .collect::<Result<Vec<_>, _>>()?;
        std::hint::black_box(&parsed);
        st.hec_receive.push(t.elapsed());

        let t = Instant::now();
        store.outbox_ack("probe", batch.scanned_to)?;
        st.ack.push(t.elapsed());
    }
    for v in [
        &mut st.read,
        &mut st.ack,
        &mut st.syslog,
        &mut st.hec,
        &mut st.hec_receive,
    ] {
        v.sort_unstable();
    }
    Ok(st)
}

/// Parses a `[siem]` section as `palisade.toml` would.
fn siem_config(toml_text: &str) -> anyhow::Result<SiemConfig> {
    let config = palisade_models::Config::parse(&format!(
        "[upstream]\nurl = \"http://127.0.0.1:1\"\n[routes]\nunknown = \"allow\"\n{toml_text}"
    ))
    .map_err(|e| anyhow!("the bench's [siem] config: {e}"))?;
    Ok(config.siem)
}

/// A BOLA finding like the analytics engine emits, number `i` at `ms`.
fn finding(ms: u64, i: usize) -> Finding {
    let mut evidence = serde_json::Map::new();
    evidence.insert("distinct_ids".into(), 42.into());
    evidence.insert(
        "sample_ids".into(),
        serde_json::json!(["1040", "1041", "1042", "1043", "1044"]),
    );
    let client = i % 250;
    Finding {
        instance: None,
        id: FindingId::new(ms, i as u128),
        kind: FindingKind::BolaEnumeration,
        severity: Severity::High,
        confidence: 0.9,
        client: FindingClient {
            ip: Some(std::net::IpAddr::from([198, 51, 100, (client % 250) as u8])),
            subject: Some(format!("user-{client}").into()),
            api_key_id: None,
        },
        endpoint: Some("GET /api/orders/{id}".into()),
        window_start_ms: ms - 60_000,
        window_end_ms: ms,
        summary: "walked 42 distinct order ids in 60 s (baseline 3)".into(),
        evidence,
        request: Some(FindingRequest {
            method: "GET".into(),
            path: format!("/api/orders/{}", 1000 + i % 9000).into(),
            status: 200,
            peer_port: 50_123,
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) python-requests/2.31".into()),
        }),
    }
}

/// What the HEC receiver counted.
#[derive(Default)]
struct HecCounts {
    events: AtomicU64,
    refused: AtomicU64,
    ids: Mutex<HashSet<String>>,
}

/// An HTTP receiver answering like Splunk's HEC: checks the token, gunzips,
/// parses the concatenated events and counts them.
struct HecReceiver {
    addr: SocketAddr,
    got: Arc<HecCounts>,
    stop: CancellationToken,
}

impl Drop for HecReceiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl HecReceiver {
    async fn start() -> anyhow::Result<HecReceiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let got = Arc::new(HecCounts::default());
        let app = Router::new()
            .route("/services/collector/event", post(hec_event))
            .with_state(got.clone());
        let stop = CancellationToken::new();
        let s = stop.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { s.cancelled().await })
                .await;
            if let Err(e) = served {
                eprintln!("the HEC receiver failed: {e}");
            }
        });
        Ok(HecReceiver { addr, got, stop })
    }

    /// Events parsed, and distinct record ids among them.
    fn counts(&self) -> (usize, usize) {
        let ids = self
            .got
            .ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (self.got.events.load(Ordering::Relaxed) as usize, ids.len())
    }
}

async fn hec_event(State(got): State<Arc<HecCounts>>, headers: HeaderMap, body: Bytes) -> Response {
    let refuse = |status: StatusCode, answer: &'static str| {
        got.refused.fetch_add(1, Ordering::Relaxed);
        (status, answer).into_response()
    };
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.strip_prefix("Splunk ") == Some(HEC_TOKEN));
    if !authorized {
        return refuse(
            StatusCode::UNAUTHORIZED,
            r#"{"text":"Invalid token","code":4}"#,
        );
    }
    let gzipped = headers.get("content-encoding").is_some_and(|v| v == "gzip");
    let text = if gzipped {
        use std::io::Read;
        let mut s = String::new();
        match flate2::read::GzDecoder::new(&body[..]).read_to_string(&mut s) {
            Ok(_) => s,
            Err(_) => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    r#"{"text":"Invalid data format","code":6}"#,
                );
            }
        }
    } else {
        match String::from_utf8(body.to_vec()) {
            Ok(s) => s,
            Err(_) => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    r#"{"text":"Invalid data format","code":6}"#,
                );
            }
        }
    };
    let mut ids = Vec::with_capacity(SINK_BATCH);
    for event in serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Value>() {
        match event {
            Ok(v) if v.get("event").is_some() => {
                ids.push(
                    v["fields"]["palisade_id"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                );
            }
            _ => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    r#"{"text":"Invalid data format","code":6}"#,
                );
            }
        }
    }
    got.events.fetch_add(ids.len() as u64, Ordering::Relaxed);
    got.ids
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .extend(ids);
    r#"{"text":"Success","code":0}"#.into_response()
}

/// `rsyslogd -v`'s version ("8.2302.0"), or "(version unknown)".
fn rsyslog_version() -> String {
    std::process::Command::new("rsyslogd")
        .arg("-v")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let first = text.lines().next()?.split_whitespace().nth(1)?.to_string();
            Some(first)
        })
        .unwrap_or_else(|| "(version unknown)".into())
}

/// CPUs, CPU model, kernel, and the filesystem the stores are on.
fn machine(scratch: &std::path::Path) -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_string())
        .unwrap_or_default();
    // The longest mount point that holds the scratch directory.
    let fs = std::fs::read_to_string("/proc/mounts")
        .ok()
        .and_then(|mounts| {
            mounts
                .lines()
                .filter_map(|l| {
                    let mut f = l.split_whitespace();
                    let (dev, point, kind) = (f.next()?, f.next()?, f.next()?);
                    scratch
                        .starts_with(point)
                        .then(|| (point.len(), format!("{kind} on {dev}")))
                })
                .max_by_key(|(len, _)| *len)
                .map(|(_, d)| d)
        })
        .unwrap_or_else(|| "unknown filesystem".into());
    format!(
        "machine: {cpus} CPUs ({model}), Linux {kernel}; stores in {} ({fs}, fsync per commit)",
        scratch.display()
    )
}

/// The `q` quantile of sorted durations.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}
