//! Criterion micro-benchmarks of the attack-signature engine
//! (`palisade_signatures::Engine::inspect`), what the proxy's inspect phase pays
//! per request with the bundled rules at paranoia 1. The requests are the
//! engine's own benchmark samples (`palisade_signatures::corpus::samples`):
//!
//! - `signatures/clean_get`: a GET with four query parameters and typical browser
//!   and API headers (user agent, referer, cookies, accept*). Target ≤ 2 µs.
//! - `signatures/clean_json_post`: a small JSON POST (six fields). Target ≤ 2 µs.
//! - `signatures/attack_sqli_query`: a UNION-based SQL injection in a query
//!   parameter. Target ≤ 20 µs.
//! - `signatures/attack_xss_json`: script injection in a JSON string value.
//! - `signatures/attack_rce_form`: command injection in a form body.
//! - `signatures/clean_get_new_client` and `clean_json_post_new_client`: the
//!   clean requests with header values no earlier request had (4096 distinct
//!   clients in turn), so the worker's memo of clean header values never helps:
//!   the cost of a client's first request.
//!
//! The engine and the per-worker `Scratch` are built outside the timed section,
//! as in the proxy (one engine shared, one scratch per worker).
//!
//! Run: `cargo bench -p palisade-bench --bench signatures`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use palisade_signatures::corpus::samples::{bench_samples, client_headers};
use palisade_signatures::{Engine, EngineOptions, Request, Scratch};

/// Distinct clients cycled through by the `_new_client` benchmarks: far more
/// than the memo holds.
const CLIENTS: usize = 4096;

fn benches(c: &mut Criterion) {
    let engine = Engine::bundled(EngineOptions::default()).expect("bundled rules load");
    eprintln!("signatures: {} rules loaded", engine.rule_count());
    let mut scratch = Scratch::default();
    let samples = bench_samples();
    for s in &samples {
        assert_eq!(
            engine.inspect(&s.request, &mut scratch).blocked,
            s.blocked,
            "{}",
            s.name
        );
    }

    let mut g = c.benchmark_group("signatures");
    g.throughput(Throughput::Elements(1));
    for s in &samples {
        g.bench_function(s.name, |b| {
            b.iter(|| black_box(engine.inspect(black_box(&s.request), &mut scratch)));
        });
    }

    let owned: Vec<Vec<(&str, Vec<u8>)>> = (0..CLIENTS).map(client_headers).collect();
    let headers: Vec<Vec<(&str, &[u8])>> = owned
        .iter()
        .map(|h| h.iter().map(|(n, v)| (*n, v.as_slice())).collect())
        .collect();
    for s in samples.iter().filter(|s| !s.blocked) {
        let requests: Vec<Request<'_>> = headers
            .iter()
            .map(|h| Request {
                headers: h,
                ..s.request
            })
            .collect();
        assert!(
            requests
                .iter()
                .all(|r| !engine.inspect(r, &mut scratch).blocked)
        );
        let mut i = 0;
        g.bench_function(format!("{}_new_client", s.name), |b| {
            b.iter(|| {
                i = (i + 1) % CLIENTS;
                black_box(engine.inspect(black_box(&requests[i]), &mut scratch))
            });
        });
    }
    g.finish();
}

criterion_group!(signatures, benches);
criterion_main!(signatures);
