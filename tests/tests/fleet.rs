//! Fleet mode against a real redis-server on a free loopback port, with three real
//! sidecars in front of one upstream: a block made on one is enforced by all and an
//! unblock too; Redis killed and restarted empty loses no block and brings back no
//! lifted or expired one; a sidecar reports ready only once it joined its fleet.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use http::StatusCode;
use palisade_models::{BlockOrigin, BlockScope, NewBlock};
use palisade_tests::eventually;
use palisade_tests::redis::Redis;
use palisade_tests::sidecar::Sidecar;
use palisade_tests::upstream::Upstream;

const TOKEN: &str = "e2e-admin-token-0123456789abcdef";

fn fleet_config(redis: &Redis, instance: &str) -> String {
    format!(
        "[fleet]\nenabled = true\nurl = \"{}\"\nservice = \"orders\"\ninstance = \"{instance}\"\nheartbeat = \"100ms\"\njoin_timeout = \"10s\"\n",
        redis.url()
    )
}

fn start(up: &Upstream, redis: &Redis, instance: &str) -> Sidecar {
    Sidecar::start(&up.url(), &fleet_config(redis, instance))
}

async fn joined(sides: &[&Sidecar]) {
    eventually("every sidecar joined the fleet", || {
        sides.iter().all(|s| s.palisade.fleet().joined)
    })
    .await;
}

fn block(scope: BlockScope, ttl: Duration) -> NewBlock {
    let now = palisade_models::unix_ms(std::time::SystemTime::now());
    NewBlock {
        scope,
        reason: "e2e".into(),
        origin: BlockOrigin::Manual,
        created_ms: now,
        expires_ms: Some(now + ttl.as_millis() as u64),
        finding: None,
    }
}

fn holds(side: &Sidecar, scope: &BlockScope) -> bool {
    let b = side.palisade.blocks();
    b.in_force(b.now_ms()).iter().any(|x| &x.scope == scope)
}

async fn status(client: &reqwest::Client, side: &Sidecar) -> StatusCode {
    client.get(side.url("/")).send().await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_on_one_sidecar_is_enforced_by_all_and_so_is_its_lift() {
    let redis = Redis::start();
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let (a, b, c) = (
        start(&up, &redis, "a"),
        start(&up, &redis, "b"),
        start(&up, &redis, "c"),
    );
    joined(&[&a, &b, &c]).await;
    let http = reqwest::Client::new();
    for s in [&a, &b, &c] {
        assert_eq!(status(&http, s).await, StatusCode::OK);
    }

    // The test client is 127.0.0.1: block it on `a` only.
    let scope = BlockScope::Ip(IpAddr::from([127, 0, 0, 1]));
    let t0 = Instant::now();
    a.palisade
        .blocks()
        .publish(block(scope.clone(), Duration::from_secs(600)));
    eventually("b and c enforce a's block", || {
        holds(&b, &scope) && holds(&c, &scope)
    })
    .await;
    let propagated = t0.elapsed();
    for s in [&a, &b, &c] {
        assert_eq!(status(&http, s).await, StatusCode::FORBIDDEN);
    }
    assert!(
        propagated < Duration::from_secs(1),
        "a block took {propagated:?} to reach the fleet"
    );
    // b enforces it as the fleet's, audited as coming from a.
    let on_b = b.palisade.blocks().in_force(b.palisade.blocks().now_ms());
    let on_b = on_b.iter().find(|x| x.scope == scope).unwrap();
    assert_eq!(on_b.origin, BlockOrigin::Fleet);
    let audit = b.palisade.store().audit(10).unwrap();
    assert!(audit.iter().any(|r| &*r.actor == "fleet:a"), "{audit:#?}");

    // Lifted on b: lifted everywhere.
    b.palisade.blocks().remove(on_b.id).unwrap();
    eventually("a and c lift it too", || {
        !holds(&a, &scope) && !holds(&c, &scope)
    })
    .await;
    for s in [&a, &b, &c] {
        assert_eq!(status(&http, s).await, StatusCode::OK);
    }
    let fa = a.palisade.fleet();
    assert_eq!((fa.blocks_sent, fa.lifts_received), (1, 1), "{fa:?}");
    assert!(fa.up && fa.joined);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_empty_loses_nothing_and_resurrects_nothing() {
    let mut redis = Redis::start();
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let (a, b) = (start(&up, &redis, "a"), start(&up, &redis, "b"));
    joined(&[&a, &b]).await;

    let kept = BlockScope::Subject("kept-before".into());
    let lifted = BlockScope::Subject("lifted-while-down".into());
    let short = BlockScope::Subject("expires-while-down".into());
    for s in [&kept, &lifted] {
        a.palisade
            .blocks()
            .publish(block(s.clone(), Duration::from_secs(600)));
    }
    a.palisade
        .blocks()
        .publish(block(short.clone(), Duration::from_millis(1500)));
    eventually("b has a's three blocks", || {
        holds(&b, &kept) && holds(&b, &lifted) && holds(&b, &short)
    })
    .await;

    redis.kill();
    eventually("both notice Redis is gone", || {
        !a.palisade.fleet().up && !b.palisade.fleet().up
    })
    .await;
    // While Redis is away: a new block on a, a lift on b, and one block expires.
    let made_while_down = BlockScope::Subject("made-while-down".into());
    a.palisade
        .blocks()
        .publish(block(made_while_down.clone(), Duration::from_secs(600)));
    let id = b
        .palisade
        .blocks()
        .in_force(b.palisade.blocks().now_ms())
        .iter()
        .find(|x| x.scope == lifted)
        .unwrap()
        .id;
    b.palisade.blocks().remove(id).unwrap();
    // Local enforcement went on without Redis.
    assert!(holds(&a, &made_while_down) && !holds(&b, &lifted));
    eventually("the short block expired on both", || {
        !holds(&a, &short) && !holds(&b, &short)
    })
    .await;

    redis.restart();
    eventually("both are back", || {
        a.palisade.fleet().up && b.palisade.fleet().up
    })
    .await;
    eventually("b has the block a made while Redis was away", || {
        holds(&b, &made_while_down)
    })
    .await;
    eventually("a lifted what b lifted while Redis was away", || {
        !holds(&a, &lifted)
    })
    .await;

    // A sidecar joining now sees exactly the blocks in force: nothing lost,
    // nothing lifted or expired brought back.
    let c = start(&up, &redis, "c");
    joined(&[&c]).await;
    assert!(holds(&c, &kept), "the block made before the restart");
    assert!(
        holds(&c, &made_while_down),
        "the block made while Redis was away"
    );
    assert!(
        !holds(&c, &lifted),
        "a block lifted while Redis was away came back"
    );
    assert!(!holds(&c, &short), "an expired block came back");
    assert!(holds(&a, &kept) && holds(&b, &kept));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_is_ready_only_once_it_joined_its_fleet() {
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    // No Redis on this port yet: the sidecar cannot join.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let side = Sidecar::start(
        &up.url(),
        &format!(
            "[fleet]\nenabled = true\nurl = \"redis://127.0.0.1:{port}/0\"\nservice = \"orders\"\njoin_timeout = \"1h\"\nheartbeat = \"100ms\"\n[admin]\ntoken_env = \"PALISADE_E2E_UNSET_TOKEN\"\ntoken_file = \"{}\"\n",
            token.display()
        ),
    );
    let http = reqwest::Client::new();
    let admin = side.palisade.admin_addr().unwrap();
    let readyz = format!("http://{admin}/readyz");
    let r = http.get(&readyz).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(body["checks"]["fleet"], false, "{body}");
    // The proxy serves meanwhile, with its own blocks.
    assert_eq!(status(&http, &side).await, StatusCode::OK);
    assert!(!side.palisade.fleet().up);

    // Redis arrives on that port: the sidecar joins and turns ready.
    let _redis = Redis::start_on(port);
    eventually("the sidecar joined", || side.palisade.fleet().joined).await;
    let r = http.get(&readyz).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
}
