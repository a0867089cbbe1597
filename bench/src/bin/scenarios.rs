//! Prints what the README's detection table quotes: per attack scenario, requests
//! until detection, time to block and benign clients flagged; then the engine's
//! events per second on one core, bytes per tracked client, and the
//! detection-to-enforcement latency through the real worker thread, a real redb
//! store and the block table.
//!
//! Run: `cargo run -p palisade-bench --release --bin scenarios` for everything, or
//! with any of `detection`, `throughput`, `memory`, `latency` for those parts.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use palisade_analytics::client::{ClientKey, ClientState, Slot};
use palisade_analytics::{Engine, Output, Sink, Worker};
use palisade_bench::scenario::{self, AttackKind};
use palisade_models::block_table::BlockChange;
use palisade_models::{
    BlockTable, BlockWriter, ClientKeys, EndpointInfo, RequestEvent, SharedClock, SystemClock, Tee,
    unix_us,
};
use palisade_store::{AuditInfo, Store};

fn main() {
    let parts: Vec<String> = std::env::args().skip(1).collect();
    let want = |p: &str| parts.is_empty() || parts.iter().any(|a| a == p);
    if want("detection") {
        detection();
    }
    if want("throughput") {
        throughput();
    }
    if want("memory") {
        memory();
    }
    if want("latency") {
        latency();
    }
}

fn detection() {
    let seeds = [1u64, 2, 3, 4, 5];
    println!(
        "== attack scenarios ({} seeds, 240 benign users, 30 simulated minutes each) ==",
        seeds.len()
    );
    println!(
        "{:<40} {:>10} {:>14} {:>16} {:>10}",
        "scenario", "detected", "requests (med)", "time to block", "blocked"
    );
    let mut benign_blocked = 0;
    let mut benign_high = 0;
    let mut benign_clients = 0;
    let reports: Vec<_> = seeds
        .iter()
        .map(|&s| scenario::run(s, &AttackKind::ALL))
        .collect();
    for (i, kind) in AttackKind::ALL.iter().enumerate() {
        let rs: Vec<_> = reports.iter().map(|r| &r.attacks[i]).collect();
        let detected = rs
            .iter()
            .filter(|a| a.requests_until_detection.is_some())
            .count();
        let mut reqs: Vec<u64> = rs
            .iter()
            .filter_map(|a| a.requests_until_detection)
            .collect();
        reqs.sort_unstable();
        let mut ttb: Vec<u64> = rs.iter().filter_map(|a| a.time_to_block_ms).collect();
        ttb.sort_unstable();
        let actors: usize = rs.iter().map(|a| a.actors).sum();
        let blocked: usize = rs.iter().map(|a| a.actors_blocked).sum();
        println!(
            "{:<40} {:>7}/{:<2} {:>14} {:>14.1} s {:>5}/{:<4}",
            kind.name(),
            detected,
            rs.len(),
            reqs.get(reqs.len() / 2)
                .map_or("-".into(), |v| v.to_string()),
            ttb.get(ttb.len() / 2)
                .map_or(f64::NAN, |v| *v as f64 / 1000.0),
            blocked,
            actors
        );
    }
    for r in &reports {
        benign_blocked += r.benign_blocked.len();
        benign_high += r.benign_high_findings.len();
        benign_clients += r.benign_clients;
    }
    println!(
        "benign clients: {benign_clients} in all; blocked: {benign_blocked}; named in high-severity findings: {benign_high}"
    );
}

fn throughput() {
    let events = scenario::events(7, &AttackKind::ALL);
    let span = events.last().map_or(0, |e| e.ts_unix_us) - events[0].ts_unix_us + 1;
    let config = scenario::config();
    let mut engine = Engine::new(&config);
    let mut out = Output::default();
    let passes = 30u64;
    let mut batch: Vec<RequestEvent> = Vec::with_capacity(events.len());
    let mut elapsed = Duration::ZERO;
    for pass in 0..passes {
        batch.clear();
        batch.extend(events.iter().cloned().map(|mut e| {
            e.ts_unix_us += pass * span;
            e
        }));
        let t = Instant::now();
        for ev in &batch {
            engine.process(ev, &mut out);
        }
        elapsed += t.elapsed();
        out.findings.clear();
        out.blocks.clear();
    }
    let n = passes * events.len() as u64;
    println!(
        "\n== engine throughput (one core, all detectors on) ==\n{} events in {:.3} s: {:.2} M events/s",
        n,
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64() / 1e6
    );
}

fn memory() {
    let config = scenario::config();
    let mut engine = Engine::new(&config);
    let mut out = Output::default();
    let n = 1_000_000u32;
    let t0 = 1_800_000_000_000u64;
    for i in 0..n {
        let ev = RequestEvent {
            ts_unix_us: (t0 + u64::from(i) / 100) * 1000,
            client_ip: IpAddr::from((0x0a00_0000u32 + i).to_be_bytes()),
            path: "/api/catalog".into(),
            route: Some(Arc::from("/api/catalog")),
            ..RequestEvent::example()
        };
        engine.process(&ev, &mut out);
    }
    let clients = engine.clients();
    let state = std::mem::size_of::<ClientState>();
    let index = std::mem::size_of::<(ClientKey, Slot)>();
    let table = clients.table_bytes();
    println!(
        "\n== memory ==\n{} tracked clients: table {:.1} MiB, {} bytes per client ({} bytes of state and {} of index entry; the rest is the index's slack and the last chunk); 1M clients = {:.2} GiB",
        clients.len(),
        table as f64 / (1 << 20) as f64,
        table / clients.len().max(1),
        state,
        index,
        table as f64 / clients.len().max(1) as f64 * 1e6 / (1u64 << 30) as f64
    );
}

/// The worker's sink as the binary has it, minus logging: findings stored, then
/// blocks stored and published.
struct BenchSink {
    store: Arc<Store>,
    writer: Arc<Mutex<BlockWriter>>,
}

impl Sink for BenchSink {
    fn deliver(&mut self, out: &mut Output) {
        let audit = AuditInfo {
            actor: "analytics".into(),
            reason: "bench".into(),
            at_ms: 0,
        };
        let _ = self.store.insert_findings(&out.findings);
        out.findings.clear();
        for b in out.blocks.drain(..) {
            if let Ok(stored) = self.store.insert_block(b, &audit)
                && let Ok(mut w) = self.writer.lock()
            {
                w.apply(vec![BlockChange::Put(stored)]);
            }
        }
    }

    fn persist(&mut self, _: Vec<EndpointInfo>, _: Vec<u8>) {}
}

fn latency() {
    let dir = std::env::temp_dir().join(format!("palisade-bench-{}", std::process::id()));
    let store = Arc::new(Store::open(&dir.join("bench.redb")).expect("store"));
    let (table, writer) = BlockTable::new();
    let writer = Arc::new(Mutex::new(writer));
    let tee = Arc::new(Tee::new(65_536));
    let clock: SharedClock = Arc::new(SystemClock::new());
    let config = scenario::config();
    let handle = Worker::new(tee.clone(), clock.clone())
        .with_engine(
            Engine::new(&config),
            Box::new(BenchSink {
                store: store.clone(),
                writer,
            }),
            Duration::from_secs(3600),
        )
        .spawn()
        .expect("worker");
    let trials = 300u32;
    let mut lat = Vec::with_capacity(trials as usize);
    for k in 0..trials {
        let ip = IpAddr::from([10, 99, (k / 250) as u8, (k % 250) as u8]);
        let probe = |path: &str| RequestEvent {
            ts_unix_us: unix_us(clock.now()),
            client_ip: ip,
            path: path.into(),
            status: 404,
            ..RequestEvent::example()
        };
        tee.push(probe("/.env"));
        tee.push(probe("/.git/config"));
        let last = probe("/backup.sql");
        let t = Instant::now();
        tee.push(last);
        handle.wake();
        let keys = ClientKeys {
            ip,
            subject: None,
            api_key_id: None,
        };
        loop {
            if table.lookup(keys, clock.now_ms()).is_some() {
                break;
            }
            if t.elapsed() > Duration::from_secs(5) {
                panic!("no block after 5 s");
            }
            std::hint::spin_loop();
        }
        lat.push(t.elapsed());
    }
    handle.stop();
    let _ = std::fs::remove_dir_all(&dir);
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "\n== detection to enforcement ({trials} probing attackers; from the triggering event entering the tee to the block being visible to the proxy, through a real redb store with fsync) ==\np50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
        lat[lat.len() - 1].as_secs_f64() * 1000.0
    );
}
