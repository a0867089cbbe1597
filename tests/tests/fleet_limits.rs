//! Cluster-wide rate limits (`scope = "cluster"`) on three real sidecars sharing a
//! real redis-server: under concurrent load spread over the three, the fleet
//! admits what one limit allows (within 5%), not three times it; with Redis gone
//! a fail-open route falls back to each sidecar's own limit and a fail-closed one
//! refuses.

use std::time::{Duration, Instant};

use http::StatusCode;
use palisade_tests::eventually;
use palisade_tests::load::hammer;
use palisade_tests::redis::Redis;
use palisade_tests::sidecar::{Options, Sidecar};
use palisade_tests::upstream::Upstream;

const RATE: f64 = 50.0;
const BURST: f64 = 50.0;

/// A sidecar without analytics: the 429s the load provokes must not get the
/// test's own address blocked.
fn start(up: &Upstream, redis: &Redis, instance: &str, failure: &str) -> Sidecar {
    Sidecar::start_with(
        &up.url(),
        &format!(
            r#"
[fleet]
enabled = true
url = "{}"
service = "orders"
instance = "{instance}"
heartbeat = "100ms"
cluster_limit_failure = "{failure}"
[[route]]
path = "/limited"
rate_limit = {{ global = "50/s", global_burst = 50, scope = "cluster" }}
[[route]]
path = "/mine"
rate_limit = {{ client = "20/s", client_burst = 20, scope = "cluster" }}
[[route]]
path = "/slow"
rate_limit = {{ global = "10/10s", global_burst = 10, scope = "cluster" }}
"#,
            redis.url()
        ),
        Options {
            no_analytics: true,
            ..Options::default()
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_limit_holds_across_the_fleet_within_five_percent() {
    let redis = Redis::start();
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let sides = [
        start(&up, &redis, "a", "open"),
        start(&up, &redis, "b", "open"),
        start(&up, &redis, "c", "open"),
    ];
    let refs: Vec<&Sidecar> = sides.iter().collect();
    eventually("every sidecar joined", || {
        refs.iter().all(|s| s.palisade.fleet().joined)
    })
    .await;

    for (path, rate, burst) in [("/limited", RATE, BURST), ("/mine", 20.0, 20.0)] {
        let (ok, refused, elapsed) = hammer(&refs, path, 4, Duration::from_secs(2)).await;
        // What one limit allows over the run: the burst, then the rate.
        let allowed = burst + rate * elapsed.as_secs_f64();
        let overshoot = ok as f64 / allowed - 1.0;
        println!(
            "{path}: admitted {ok}, refused {refused} in {elapsed:?}; one limit allows {allowed:.0}; \
             overshoot {:+.1}%",
            overshoot * 100.0
        );
        assert!(refused > 0, "{path}: the load never reached the limit");
        assert!(
            overshoot <= 0.05,
            "{path}: the fleet admitted {ok}, {:.1}% over the {allowed:.0} one limit allows",
            overshoot * 100.0
        );
        // Leases are used, not wasted: the fleet gets close to what it may have
        // (each sidecar alone would have admitted about `allowed` by itself).
        assert!(
            ok as f64 >= 0.8 * allowed,
            "{path}: only {ok} of the {allowed:.0} allowed were admitted"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_fail_open_falls_back_to_the_local_limit_and_fail_closed_refuses() {
    let mut redis = Redis::start();
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let open = start(&up, &redis, "open", "open");
    let closed = start(&up, &redis, "closed", "closed");
    eventually("both joined", || {
        open.palisade.fleet().joined && closed.palisade.fleet().joined
    })
    .await;
    redis.kill();
    eventually("both see Redis gone", || {
        !open.palisade.fleet().up && !closed.palisade.fleet().up
    })
    .await;
    let http = reqwest::Client::new();
    let mut statuses = (Vec::new(), Vec::new());
    let t0 = Instant::now();
    for _ in 0..20 {
        statuses
            .0
            .push(http.get(open.url("/slow")).send().await.unwrap().status());
        statuses
            .1
            .push(http.get(closed.url("/slow")).send().await.unwrap().status());
    }
    let count = |v: &[StatusCode], s| v.iter().filter(|x| **x == s).count();
    // Open: the route's own limit, counted by this sidecar alone: the burst of
    // 10 and one more per second the requests took.
    let local = 10 + t0.elapsed().as_secs() as usize;
    let admitted = count(&statuses.0, StatusCode::OK);
    assert!(
        admitted >= 10 && admitted <= local && admitted < 20,
        "fail open admitted {admitted} of 20 (local limit {local}): {:?}",
        statuses.0
    );
    assert_eq!(
        count(&statuses.0, StatusCode::TOO_MANY_REQUESTS),
        20 - admitted,
        "{:?}",
        statuses.0
    );
    // Closed: nothing passes while the shared bucket cannot be asked.
    assert_eq!(
        count(&statuses.1, StatusCode::TOO_MANY_REQUESTS),
        20,
        "{:?}",
        statuses.1
    );
    // Redis back: the shared bucket decides again (it was never spent by the
    // refusals, so the closed sidecar now admits).
    redis.restart();
    eventually("both see Redis back", || {
        open.palisade.fleet().up && closed.palisade.fleet().up
    })
    .await;
    let s = http.get(closed.url("/slow")).send().await.unwrap().status();
    assert_eq!(
        s,
        StatusCode::OK,
        "fail closed still refuses with Redis back"
    );
}
