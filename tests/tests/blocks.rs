//! A published block denies the client's next request with 403 `blocked` and an
//! expired one no longer does (time is injected, not waited for); static blocks
//! from config apply from start-up.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::StatusCode;
use palisade_models::{BlockOrigin, BlockScope, ManualClock, NewBlock};
use palisade_tests::sidecar::{Options, Sidecar};
use palisade_tests::upstream::Upstream;

#[tokio::test]
async fn a_published_block_denies_and_then_expires() {
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let side = Sidecar::start_with(
        &up.url(),
        "",
        Options {
            clock: Some(clock.clone()),
            ..Options::default()
        },
    );
    let c = reqwest::Client::new();
    assert_eq!(c.get(side.url("/")).send().await.unwrap().status(), 200);

    // The block's times come from the injected clock the sidecar judges expiry by
    // (the wall clock has moved on by however long the start-up took).
    let now = palisade_models::Clock::now_ms(&*clock);
    let id = side.palisade.blocks().publish(NewBlock {
        scope: BlockScope::Ip("127.0.0.1".parse().unwrap()),
        reason: "test: bola_enumeration".into(),
        origin: BlockOrigin::Analytics,
        created_ms: now,
        expires_ms: Some(now + 60_000),
        finding: None,
    });
    let denied = c.get(side.url("/")).send().await.unwrap();
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    let body = denied.text().await.unwrap();
    assert!(body.contains("\"reason\":\"blocked\""), "{body}");
    assert!(
        !body.contains("bola"),
        "the block reason is for operators only: {body}"
    );
    assert_eq!(
        up.count(),
        1,
        "a blocked request never reaches the upstream"
    );

    clock.advance(Duration::from_secs(61));
    assert_eq!(c.get(side.url("/")).send().await.unwrap().status(), 200);

    // An unexpired block can also be lifted.
    let id2 = side.palisade.blocks().publish(NewBlock {
        scope: BlockScope::Cidr("127.0.0.0/8".parse().unwrap()),
        reason: "test".into(),
        origin: BlockOrigin::Manual,
        created_ms: now,
        expires_ms: None,
        finding: None,
    });
    assert_eq!(c.get(side.url("/")).send().await.unwrap().status(), 403);
    assert!(side.palisade.blocks().remove(id2).is_some());
    assert_eq!(c.get(side.url("/")).send().await.unwrap().status(), 200);
    assert_ne!(id, id2);
}

#[tokio::test]
async fn static_blocks_from_config_apply_to_forwarded_clients() {
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let side = Sidecar::start(
        &up.url(),
        r#"
        [proxy]
        trusted_proxies = ["127.0.0.1"]
        [[blocks]]
        scope = "cidr"
        value = "203.0.113.0/24"
        reason = "known scanner range"
        "#,
    );
    let c = reqwest::Client::new();
    let blocked = c
        .get(side.url("/"))
        .header("x-forwarded-for", "203.0.113.50")
        .send()
        .await
        .unwrap();
    assert_eq!(blocked.status(), StatusCode::FORBIDDEN);
    let fine = c
        .get(side.url("/"))
        .header("x-forwarded-for", "198.51.100.1")
        .send()
        .await
        .unwrap();
    assert_eq!(fine.status(), StatusCode::OK);
    assert_eq!(up.count(), 1);
}
