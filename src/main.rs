//! The `palisade` command. Everything lives in the library, so the end-to-end tests
//! run the same code.

/// jemalloc rather than glibc's malloc: a proxy that runs for weeks must not creep.
/// Under glibc a soak's RSS kept rising (+20% in 25 minutes after warm-up) while
/// heaptrack showed the live heap flat once the event window was full: glibc's
/// per-thread arenas kept the batch job's transient peaks (polars, every minute)
/// and the window's FIFO churn as fragmented free memory. jemalloc returns it.
#[cfg(unix)]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    palisade::cli::main()
}
