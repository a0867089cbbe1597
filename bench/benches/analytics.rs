//! Criterion benchmark of the analytics engine: events per second on one core with
//! every detector on (target: at least 1M events/s).
//!
//! The events are the scenario generator's (benign traffic from 240 users and
//! every attack, about 70k events), built before timing. Each iteration feeds a
//! chunk of them, in order, to one engine; the engine's state carries over between
//! iterations, as it would in the worker. Timestamps are shifted forward each
//! pass so the windows keep moving.
//!
//! Run: `cargo bench -p palisade-bench --bench analytics`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use palisade_analytics::{Engine, Output};
use palisade_bench::scenario::{self, AttackKind};

fn engine(c: &mut Criterion) {
    let events = scenario::events(7, &AttackKind::ALL);
    let span = events.last().map_or(0, |e| e.ts_unix_us) - events[0].ts_unix_us + 1;
    let config = scenario::config();
    let mut engine = Engine::new(&config);
    let mut out = Output::default();
    let mut g = c.benchmark_group("analytics");
    const CHUNK: usize = 8192;
    g.throughput(Throughput::Elements(CHUNK as u64));
    let mut pos = 0usize;
    let mut shift = 0u64;
    let mut batch = Vec::with_capacity(CHUNK);
    g.bench_function("engine_process", |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            for _ in 0..iters {
                batch.clear();
                while batch.len() < CHUNK {
                    if pos == events.len() {
                        pos = 0;
                        shift += span;
                    }
                    let mut ev = events[pos].clone();
                    ev.ts_unix_us += shift;
                    batch.push(ev);
                    pos += 1;
                }
                let t = std::time::Instant::now();
                for ev in &batch {
                    engine.process(black_box(ev), &mut out);
                }
                total += t.elapsed();
                out.findings.clear();
                out.blocks.clear();
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
