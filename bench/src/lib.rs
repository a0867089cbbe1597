//! Palisade's benchmarks. `benches/` holds criterion micro-benchmarks; `proxy.sh`
//! is the side-by-side load benchmark against nginx and haproxy. Every figure in
//! the README comes from one of them.

pub mod scenario;
