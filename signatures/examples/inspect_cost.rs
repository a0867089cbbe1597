//! `inspect_cost`: runs `Engine::inspect` on one benchmark sample N times, for
//! counting instructions with callgrind (stable on a shared machine, unlike
//! timings). The per-request cost is the difference between two runs divided
//! by the difference in N:
//!
//! ```text
//! cargo build -p palisade-signatures --release --example inspect_cost
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/inspect_cost clean_get 2000
//! ```
//!
//! With no arguments it lists the samples. A sample name ending in
//! `_new_client` (`clean_get_new_client`) sends the sample with header values
//! of a different client on every run, so the memo of clean header values
//! never hits.

use anyhow::Context;
use palisade_signatures::corpus::samples::{bench_samples, client_headers};
use palisade_signatures::{Engine, EngineOptions, Request, Scratch};

/// Distinct clients the `_new_client` variants cycle through.
const CLIENTS: usize = 4096;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let samples = bench_samples();
    let Some(name) = args.next() else {
        for s in &samples {
            println!("{}", s.name);
        }
        return Ok(());
    };
    let n: usize = args.next().as_deref().unwrap_or("1000").parse()?;
    let (base, fresh) = match name.strip_suffix("_new_client") {
        Some(b) => (b, true),
        None => (name.as_str(), false),
    };
    let sample = samples
        .iter()
        .find(|s| s.name == base)
        .with_context(|| format!("no sample {base}"))?;
    let owned: Vec<Vec<(&str, Vec<u8>)>> = if fresh {
        (0..CLIENTS).map(client_headers).collect()
    } else {
        Vec::new()
    };
    let headers: Vec<Vec<(&str, &[u8])>> = owned
        .iter()
        .map(|h| h.iter().map(|(n, v)| (*n, v.as_slice())).collect())
        .collect();
    let requests: Vec<Request<'_>> = if fresh {
        headers
            .iter()
            .map(|h| Request {
                headers: h,
                ..sample.request
            })
            .collect()
    } else {
        vec![sample.request]
    };
    let engine = Engine::bundled(EngineOptions::default())?;
    let mut scratch = Scratch::default();
    // Warm the scratch and the regex caches, as a running worker would have.
    for r in requests.iter().take(10) {
        std::hint::black_box(engine.inspect(r, &mut scratch));
    }
    let mut blocked = 0;
    for i in 0..n {
        let r = &requests[(i + 10) % requests.len()];
        let v = engine.inspect(std::hint::black_box(r), &mut scratch);
        blocked += usize::from(v.blocked);
    }
    println!("{name}: {n} runs, {blocked} blocked");
    Ok(())
}
