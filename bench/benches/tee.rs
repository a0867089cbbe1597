//! Criterion micro-benchmarks of the tee (`palisade_models::Tee`), the lock-free
//! ring between the proxy workers and the analytics worker.
//!
//! The figure that matters is `tee/push`: what the proxy's record phase pays per
//! request to hand its event over (target: < 100 ns, uncontended). Building the
//! event is the record phase's own cost, not the tee's, so every benchmark here
//! prepares its events outside the timed section:
//!
//! - `tee/event_clone`: cloning the realistic event (the allocations a request's
//!   event costs). Shown so the other figures can be put in proportion; it is not
//!   part of `tee/push`.
//! - `tee/push`: `Tee::push` into a ring with room, which is the normal case, at
//!   the shipped capacity (65536 events, a 16 MiB ring). The ring is drained
//!   (untimed) before every chunk of pushes, so it never fills.
//! - `tee/push_ring_1024`: the same into a 1024-event ring (256 KiB, stays in L2):
//!   the queue's own cost without the cache misses of a large ring.
//! - `tee/push_full`: `Tee::push` into a full ring: the drop-and-count path. The
//!   rejected event is dropped inside `push`, so its deallocation is included.
//! - `tee/drain_1024`: `Tee::drain_into` of a batch of 1024 events into a vector
//!   that already has room (the analytics worker's side).
//!
//! Run: `cargo bench -p palisade-bench --bench tee`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use palisade_models::{Protocol, RequestEvent, Tee};

/// The ring size Palisade ships with (`tee.capacity`).
const CAPACITY: usize = 65_536;
/// Events timed per `Instant` pair in the push benchmarks: large enough that the
/// two clock reads (~50 ns together) vanish in the per-push figure, small enough
/// that a chunk and the ring stay in cache.
const CHUNK: usize = 4096;
/// The drain batch.
const DRAIN: usize = 1024;

/// An event as the record phase writes it for an ordinary authenticated GET.
fn realistic_event() -> RequestEvent {
    RequestEvent {
        ts_unix_us: 1_767_225_600_123_456,
        request_id: "0194f3a2-7c1e-7d4b-9a8f-3b2c1d0e4f5a".into(),
        client_ip: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 57)),
        peer_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 3, 14)),
        peer_port: 51234,
        subject: Some("user_8812".into()),
        api_key_id: None,
        token_id: None,
        scopes: None,
        method: http::Method::GET,
        host: Some("api.example.com".into()),
        path: "/api/users/8812".into(),
        query_keys: Some("fields&expand".into()),
        // Routes come from the shared route table: cloning one is a refcount bump.
        route: Some(Arc::from("/api/users/{id}")),
        undeclared: false,
        status: 200,
        deny: None,
        latency_us: 1843,
        upstream_latency_us: Some(1620),
        bytes_in: 0,
        bytes_out: 512,
        user_agent: Some(
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128".into(),
        ),
        protocol: Protocol::Http11,
        tls: false,
        login: None,
        signatures: None,
        schema: None,
    }
}

/// Empties the ring, dropping its events (untimed housekeeping).
fn drain_all(tee: &Tee, scratch: &mut Vec<RequestEvent>) {
    while tee.drain_into(scratch, CAPACITY) > 0 {
        scratch.clear();
    }
}

fn benches(c: &mut Criterion) {
    let event = realistic_event();
    eprintln!(
        "RequestEvent: {} bytes inline, request_id {} B, path {} B, user_agent {} B",
        size_of::<RequestEvent>(),
        event.request_id.len(),
        event.path.len(),
        event.user_agent.as_deref().map_or(0, str::len),
    );

    let mut g = c.benchmark_group("tee");
    g.throughput(Throughput::Elements(1));

    // Cloning into a vector with room; the clones are dropped untimed.
    g.bench_function("event_clone", |b| {
        let mut out: Vec<RequestEvent> = Vec::with_capacity(CHUNK);
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(CHUNK as u64);
                let start = Instant::now();
                for _ in 0..n {
                    out.push(black_box(&event).clone());
                }
                total += start.elapsed();
                black_box(&out);
                out.clear();
                left -= n;
            }
            total
        });
    });

    // The normal case: the ring has room. Once at the shipped capacity (a 16 MiB
    // ring, larger than L2, so the slots written are usually cold, as in
    // production where head and tail sweep the whole ring), once with a ring small
    // enough to stay in L2 with its events, which isolates the queue's own cost.
    bench_push(&mut g, "push", CAPACITY, &event);
    bench_push(&mut g, "push_ring_1024", 1024, &event);

    // Overload: the ring is full, the event is dropped and counted.
    g.bench_function("push_full", |b| {
        let tee = Tee::new(CAPACITY);
        while tee.push(event.clone()) {}
        let mut chunk: Vec<RequestEvent> = Vec::with_capacity(CHUNK);
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(CHUNK as u64);
                chunk.extend((0..n).map(|_| event.clone()));
                let start = Instant::now();
                for ev in chunk.drain(..) {
                    black_box(tee.push(black_box(ev)));
                }
                total += start.elapsed();
                left -= n;
            }
            total
        });
        assert_eq!(tee.len(), CAPACITY, "tee/push_full ran on a ring with room");
    });

    // The analytics side: one batch of 1024 out of the ring.
    g.throughput(Throughput::Elements(DRAIN as u64));
    g.bench_function("drain_1024", |b| {
        let tee = Tee::new(CAPACITY);
        let mut out: Vec<RequestEvent> = Vec::with_capacity(DRAIN);
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                for _ in 0..DRAIN {
                    tee.push(event.clone());
                }
                let start = Instant::now();
                let n = tee.drain_into(black_box(&mut out), DRAIN);
                total += start.elapsed();
                assert_eq!(n, DRAIN);
                out.clear();
            }
            total
        });
    });

    g.finish();
}

/// `Tee::push` into a ring of `capacity` that always has room.
fn bench_push(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    capacity: usize,
    event: &RequestEvent,
) {
    g.bench_function(name, |b| {
        let tee = Tee::new(capacity);
        let mut scratch = Vec::with_capacity(capacity);
        let chunk_len = CHUNK.min(capacity);
        let mut chunk: Vec<RequestEvent> = Vec::with_capacity(chunk_len);
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(chunk_len as u64);
                drain_all(&tee, &mut scratch);
                chunk.extend((0..n).map(|_| event.clone()));
                let start = Instant::now();
                for ev in chunk.drain(..) {
                    black_box(tee.push(black_box(ev)));
                }
                total += start.elapsed();
                left -= n;
            }
            total
        });
        assert_eq!(tee.dropped(), 0, "the ring filled during tee/{name}");
    });
}

criterion_group!(tee, benches);
criterion_main!(tee);
