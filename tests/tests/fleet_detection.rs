//! Fleet-wide detection on three real sidecars sharing a real redis-server: a
//! BOLA walk and a credential-stuffing run spread round-robin over the three stay
//! under every sidecar's own thresholds, and are caught through the fleet's
//! counters; the finding is reported once for the fleet (by the sidecar that
//! claimed it, named in the finding), and the block it decides reaches all three.
//! The same traffic to three sidecars that do not share counters is not caught.

use http::StatusCode;
use palisade_models::{BlockScope, Finding, FindingKind};
use palisade_store::{FindingFilter, PageRequest};
use palisade_tests::eventually;
use palisade_tests::redis::Redis;
use palisade_tests::sidecar::Sidecar;
use palisade_tests::upstream::Upstream;

const ROUTES: &str = r#"
[[route]]
path = "/api/orders/{id}"
[[route]]
path = "/login"
methods = ["POST"]
login = { username_field = "username" }
"#;

/// Three sidecars; with `redis`, one fleet exchanging counters every 100 ms.
fn start(up: &Upstream, redis: Option<&Redis>) -> Vec<Sidecar> {
    ["a", "b", "c"]
        .iter()
        .map(|instance| {
            let fleet = match redis {
                Some(r) => format!(
                    "[fleet]\nenabled = true\nurl = \"{}\"\nservice = \"orders\"\ninstance = \"{instance}\"\nheartbeat = \"100ms\"\ncounter_interval = \"100ms\"\n",
                    r.url()
                ),
                None => String::new(),
            };
            Sidecar::start(&up.url(), &format!("{fleet}{ROUTES}"))
        })
        .collect()
}

fn findings(side: &Sidecar, kind: FindingKind) -> Vec<Finding> {
    side.palisade
        .store()
        .findings(
            &FindingFilter {
                kind: Some(kind),
                ..FindingFilter::default()
            },
            PageRequest {
                after: None,
                limit: 100,
            },
        )
        .unwrap()
        .items
}

fn blocked(side: &Sidecar, scope: &BlockScope) -> bool {
    let b = side.palisade.blocks();
    b.in_force(b.now_ms()).iter().any(|x| &x.scope == scope)
}

/// Sends `n` requests, the i-th to sidecar i mod 3, each made by `req`.
async fn round_robin(
    sides: &[Sidecar],
    n: usize,
    req: impl Fn(&reqwest::Client, &Sidecar, usize) -> reqwest::RequestBuilder,
) -> Vec<StatusCode> {
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for i in 0..n {
        let s = &sides[i % sides.len()];
        statuses.push(req(&http, s, i).send().await.unwrap().status());
    }
    statuses
}

fn walk(http: &reqwest::Client, s: &Sidecar, i: usize) -> reqwest::RequestBuilder {
    http.get(s.url(&format!("/api/orders/{}", 1000 + i)))
}

fn stuff(http: &reqwest::Client, s: &Sidecar, i: usize) -> reqwest::RequestBuilder {
    http.post(s.url("/login"))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"username":"victim{i}@example.com","password":"hunter2"}}"#
        ))
}

/// The walk: 24 ids, 8 per sidecar, every one refused (the API checks
/// ownership): each sidecar sees 8 refused ids, under `denied_ids` = 10 and
/// `walk_ids` = 20; the fleet sees 24.
const WALK: usize = 24;
/// The stuffing run: 15 usernames, 5 per sidecar, under
/// `usernames_per_client` = 10; the fleet sees 15.
const STUFF: usize = 15;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bola_walk_spread_over_the_fleet_is_caught_once_and_blocked_everywhere() {
    let redis = Redis::start();
    let up = Upstream::fixed(StatusCode::FORBIDDEN, "not yours").await;
    let sides = start(&up, Some(&redis));
    eventually("every sidecar joined", || {
        sides.iter().all(|s| s.palisade.fleet().joined)
    })
    .await;
    let statuses = round_robin(&sides, WALK, walk).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::FORBIDDEN));
    eventually("the fleet reports the walk", || {
        sides
            .iter()
            .any(|s| !findings(s, FindingKind::BolaEnumeration).is_empty())
    })
    .await;
    let localhost = BlockScope::Ip("127.0.0.1".parse().unwrap());
    eventually("the block reaches every sidecar", || {
        sides.iter().all(|s| blocked(s, &localhost))
    })
    .await;
    let all: Vec<Finding> = sides
        .iter()
        .flat_map(|s| findings(s, FindingKind::BolaEnumeration))
        .collect();
    assert_eq!(all.len(), 1, "reported once for the fleet: {all:#?}");
    let f = &all[0];
    assert_eq!(f.evidence["scope"], "fleet", "{f:#?}");
    // Judged on the fleet's count: at least the threshold, more than any one
    // sidecar saw (8).
    assert!(
        f.evidence["fleet_denied_ids"].as_u64().unwrap() >= 10,
        "{f:#?}"
    );
    let reporter = f
        .instance
        .as_deref()
        .expect("the finding names its sidecar");
    assert!(["a", "b", "c"].contains(&reporter), "{reporter}");
    assert_eq!(f.client.ip, Some("127.0.0.1".parse().unwrap()));
    // The walker is refused by all three now.
    let after = round_robin(&sides, 3, walk).await;
    assert!(after.iter().all(|s| *s == StatusCode::FORBIDDEN));
    for s in &sides {
        assert!(blocked(s, &localhost));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuffing_run_spread_over_the_fleet_is_caught_once() {
    let redis = Redis::start();
    let up = Upstream::fixed(StatusCode::UNAUTHORIZED, "bad credentials").await;
    let sides = start(&up, Some(&redis));
    eventually("every sidecar joined", || {
        sides.iter().all(|s| s.palisade.fleet().joined)
    })
    .await;
    let statuses = round_robin(&sides, STUFF, stuff).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED));
    eventually("the fleet reports the stuffing run", || {
        sides
            .iter()
            .any(|s| !findings(s, FindingKind::CredentialStuffing).is_empty())
    })
    .await;
    let all: Vec<Finding> = sides
        .iter()
        .flat_map(|s| findings(s, FindingKind::CredentialStuffing))
        .collect();
    assert_eq!(all.len(), 1, "reported once for the fleet: {all:#?}");
    let f = &all[0];
    assert_eq!(f.evidence["scope"], "fleet");
    // At least the threshold, more than any one sidecar saw (5).
    assert!(
        f.evidence["fleet_distinct_usernames"].as_u64().unwrap() >= 10,
        "{f:#?}"
    );
    assert!(f.instance.is_some());
    // No username reached Redis: only hashes.
    let keys = redis.cmd(&["KEYS", "*"]);
    assert!(!keys.contains("victim"), "{keys}");
}

/// Waits until `side`'s worker has analysed `n` requests and delivered what
/// they produced: a marker request sent after them is analysed in a later batch,
/// after the earlier batch's findings were stored.
async fn settled(side: &Sidecar, n: u64) {
    let events = || {
        side.palisade
            .analytics_totals()
            .map_or(0, |t| t.snapshot().events)
    };
    eventually("the worker analysed every request", || events() >= n).await;
    reqwest::get(side.url("/marker")).await.unwrap();
    eventually("the worker analysed the marker", || events() > n).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_fleet_the_same_traffic_stays_under_every_sidecars_thresholds() {
    let forbidden = Upstream::fixed(StatusCode::FORBIDDEN, "not yours").await;
    let sides = start(&forbidden, None);
    round_robin(&sides, WALK, walk).await;
    let unauthorized = Upstream::fixed(StatusCode::UNAUTHORIZED, "bad credentials").await;
    let logins = start(&unauthorized, None);
    round_robin(&logins, STUFF, stuff).await;
    for s in &sides {
        settled(s, (WALK / 3) as u64).await;
        assert!(findings(s, FindingKind::BolaEnumeration).is_empty());
    }
    for s in &logins {
        settled(s, (STUFF / 3) as u64).await;
        assert!(findings(s, FindingKind::CredentialStuffing).is_empty());
    }
}
