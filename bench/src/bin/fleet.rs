//! Fleet mode figures (issue 9), with a real redis-server on a free loopback port
//! and real sidecars started in this process (release build), in front of one
//! upstream:
//!
//! - `propagation`: a block published on sidecar a, then lifted, until b and c
//!   enforce it (each polls its own block table, as its request path does):
//!   p50 / p99 / max over `ROUNDS` blocks;
//! - `overshoot`: three sidecars under concurrent load on a `scope = "cluster"`
//!   route (global 500/s, then per client 200/s): what the fleet admitted against
//!   what one limit allows;
//! - `cost`: requests in sequence on one connection through a route limited
//!   locally and the same route limited fleet-wide (a limit high enough never to
//!   refuse): the latency a cluster limit's leases add to the request path.
//!
//! Usage: `cargo run -p palisade-bench --release --bin fleet [-- propagation|overshoot|cost]`
//! (no argument: all three). Needs `redis-server` on the PATH.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use http::StatusCode;
use palisade_models::{BlockOrigin, BlockScope, NewBlock, unix_ms};
use palisade_tests::load::hammer;
use palisade_tests::redis::Redis;
use palisade_tests::sidecar::{Options, Sidecar};
use palisade_tests::upstream::Upstream;

const ROUNDS: usize = 200;

fn fleet(redis: &Redis, instance: &str) -> String {
    format!(
        "[fleet]\nenabled = true\nurl = \"{}\"\nservice = \"bench\"\ninstance = \"{instance}\"\nheartbeat = \"1s\"\n[log]\nlevel = \"error\"\n",
        redis.url()
    )
}

fn sidecar(up: &Upstream, text: &str) -> Sidecar {
    Sidecar::start_with(
        &up.url(),
        text,
        Options {
            no_analytics: true,
            ..Options::default()
        },
    )
}

async fn joined(sides: &[&Sidecar]) -> anyhow::Result<()> {
    let t0 = Instant::now();
    while !sides.iter().all(|s| s.palisade.fleet().joined) {
        if t0.elapsed() > Duration::from_secs(20) {
            bail!("the sidecars did not join the fleet within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

fn holds(side: &Sidecar, scope: &BlockScope) -> bool {
    let b = side.palisade.blocks();
    b.in_force(b.now_ms()).iter().any(|x| &x.scope == scope)
}

/// Polls until `done` (every 50 µs), up to 10 s; the time it took.
async fn until(mut done: impl FnMut() -> bool) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    while !done() {
        if t0.elapsed() > Duration::from_secs(10) {
            bail!("not propagated within 10 s");
        }
        tokio::time::sleep(Duration::from_micros(50)).await;
    }
    Ok(t0.elapsed())
}

fn line(what: &str, h: &Histogram<u64>) {
    println!(
        "{what:<28} p50 {:>8.2} ms   p99 {:>8.2} ms   max {:>8.2} ms   (n = {})",
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
        h.max() as f64 / 1000.0,
        h.len()
    );
}

async fn propagation() -> anyhow::Result<()> {
    let redis = Redis::start();
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let sides: Vec<Sidecar> = ["a", "b", "c"]
        .iter()
        .map(|i| sidecar(&up, &fleet(&redis, i)))
        .collect();
    joined(&sides.iter().collect::<Vec<_>>()).await?;
    let (a, b, c) = (&sides[0], &sides[1], &sides[2]);
    let mut block = Histogram::<u64>::new(3)?;
    let mut lift = Histogram::<u64>::new(3)?;
    for i in 0..ROUNDS {
        let scope = BlockScope::Ip(IpAddr::from([10, 9, (i / 250) as u8, (i % 250) as u8]));
        let now = unix_ms(std::time::SystemTime::now());
        let id = a.palisade.blocks().publish(NewBlock {
            scope: scope.clone(),
            reason: "bench".into(),
            origin: BlockOrigin::Manual,
            created_ms: now,
            expires_ms: Some(now + 600_000),
            finding: None,
        });
        let took = until(|| holds(b, &scope) && holds(c, &scope)).await?;
        block.record(took.as_micros() as u64)?;
        a.palisade
            .blocks()
            .remove(id)
            .context("the block is gone from a")?;
        let took = until(|| !holds(b, &scope) && !holds(c, &scope)).await?;
        lift.record(took.as_micros() as u64)?;
    }
    println!("block propagation, a -> b and c, {ROUNDS} blocks (target: p99 <= 1 s):");
    line("  block enforced by both", &block);
    line("  lift enforced by both", &lift);
    Ok(())
}

async fn overshoot() -> anyhow::Result<()> {
    let redis = Redis::start();
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let routes = r#"
[[route]]
path = "/global"
rate_limit = { global = "500/s", global_burst = 500, scope = "cluster" }
[[route]]
path = "/client"
rate_limit = { client = "200/s", client_burst = 200, scope = "cluster" }
"#;
    let sides: Vec<Sidecar> = ["a", "b", "c"]
        .iter()
        .map(|i| sidecar(&up, &format!("{}{routes}", fleet(&redis, i))))
        .collect();
    let refs: Vec<&Sidecar> = sides.iter().collect();
    joined(&refs).await?;
    println!("cluster limit, three sidecars, 8 connections each, 10 s (target: overshoot <= 5%):");
    for (path, rate, burst) in [("/global", 500.0, 500.0), ("/client", 200.0, 200.0)] {
        let (ok, refused, elapsed) = hammer(&refs, path, 8, Duration::from_secs(10)).await;
        let allowed = burst + rate * elapsed.as_secs_f64();
        println!(
            "  {path:<8} limit {rate}/s: admitted {ok}, refused {refused} in {:.2} s; one limit allows {allowed:.0}: {:+.1}%",
            elapsed.as_secs_f64(),
            (ok as f64 / allowed - 1.0) * 100.0
        );
    }
    Ok(())
}

async fn cost() -> anyhow::Result<()> {
    let redis = Redis::start();
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let route = |scope: &str| {
        format!(
            "[[route]]\npath = \"/r\"\nrate_limit = {{ global = \"1000000/s\", global_burst = 1000, client = \"100000/s\", client_burst = 1000, scope = \"{scope}\" }}\n"
        )
    };
    let local = sidecar(&up, &route("local"));
    let clustered = sidecar(&up, &format!("{}{}", fleet(&redis, "a"), route("cluster")));
    joined(&[&clustered]).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()?;
    println!("request-path cost of a cluster limit: 20,000 requests in sequence, one connection:");
    for (name, side) in [("local limit", &local), ("cluster limit", &clustered)] {
        let url = side.url("/r");
        for _ in 0..2_000 {
            http.get(&url).send().await?.bytes().await?;
        }
        let mut h = Histogram::<u64>::new(3)?;
        for _ in 0..20_000 {
            let t0 = Instant::now();
            let r = http.get(&url).send().await?;
            if r.status() != StatusCode::OK {
                bail!("{name}: {}", r.status());
            }
            r.bytes().await?;
            h.record(t0.elapsed().as_micros() as u64)?;
        }
        println!(
            "  {name:<14} p50 {:>6} µs   p99 {:>6} µs   p99.9 {:>6} µs",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999)
        );
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let what = std::env::args().nth(1);
    let all = what.is_none();
    let is = |w: &str| all || what.as_deref() == Some(w);
    if is("propagation") {
        propagation().await?;
    }
    if is("overshoot") {
        overshoot().await?;
    }
    if is("cost") {
        cost().await?;
    }
    Ok(())
}
