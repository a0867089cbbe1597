//! The analytics loop through the real proxy: a probing client is detected and
//! blocked within its next requests; and, with the real binary, a block and its
//! finding survive kill -9 and the block is enforced again at once after restart.

use std::time::SystemTime;

use http::StatusCode;
use palisade_models::{BlockScope, FindingKind, unix_ms};
use palisade_store::{FindingFilter, PageRequest, Store};
use palisade_tests::PROBES;
use palisade_tests::binary::Running;
use palisade_tests::sidecar::Sidecar;
use palisade_tests::upstream::Upstream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probing_client_is_blocked_at_the_proxy() {
    let up = Upstream::fixed(StatusCode::NOT_FOUND, "no").await;
    let side = Sidecar::start(&up.url(), "");
    let c = reqwest::Client::new();
    assert_eq!(c.get(side.url("/ok")).send().await.unwrap().status(), 404);
    for p in PROBES {
        c.get(side.url(p)).send().await.unwrap();
    }
    let store = side.palisade.store().clone();
    let localhost = BlockScope::Ip("127.0.0.1".parse().unwrap());
    palisade_tests::eventually("analytics blocks the prober", || {
        store
            .active_blocks(unix_ms(SystemTime::now()))
            .unwrap()
            .iter()
            .any(|b| b.scope == localhost)
    })
    .await;
    let resp = c.get(side.url("/ok")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.text().await.unwrap().contains("blocked"));
    let findings = store
        .findings(
            &FindingFilter {
                kind: Some(FindingKind::Probing),
                ..FindingFilter::default()
            },
            PageRequest {
                after: None,
                limit: 10,
            },
        )
        .unwrap();
    let f = &findings.items[0];
    assert_eq!(f.client.ip, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(f.evidence["sensitive_paths"], 3);
    let block = store
        .blocks()
        .unwrap()
        .into_iter()
        .find(|b| b.scope == localhost)
        .unwrap();
    assert_eq!(block.finding, Some(f.id), "the block names its finding");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_and_findings_survive_kill_9() {
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let data = tempfile::tempdir().unwrap();
    let db = data.path().join("palisade.redb");
    let config = format!(
        r#"
        [proxy]
        workers = 1
        listen = ["127.0.0.1:0"]
        [upstream]
        url = "{}"
        [routes]
        unknown = "allow"
        [store]
        path = "{}"
        [log]
        format = "json"
        "#,
        up.url(),
        db.display()
    );
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_palisade-e2e"));
    let mut first = Running::start(bin, &config);
    let url = |r: &Running, p: &str| format!("http://{}{p}", r.addr);
    let c = reqwest::Client::new();
    for p in PROBES {
        c.get(url(&first, p)).send().await.unwrap();
    }
    // Each try is one more request; only the block turns it into a 403.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let status = c.get(url(&first, "/ok")).send().await.unwrap().status();
        if status == StatusCode::FORBIDDEN {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the prober was not blocked: {}",
            first.log()
        );
        tokio::task::yield_now().await;
    }
    first.child.kill().unwrap();
    first.child.wait().unwrap();

    let second = Running::start(bin, &config);
    let resp = c.get(url(&second, "/ok")).send().await.unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::FORBIDDEN,
        "the stored block is enforced from the first request after restart"
    );
    assert!(second.log().contains("stored blocks enforced again"));
    drop(second);

    let store = Store::open(&db).unwrap();
    assert!(store.count_findings().unwrap() >= 1);
    assert!(
        store
            .blocks()
            .unwrap()
            .iter()
            .any(|b| b.scope == BlockScope::Ip("127.0.0.1".parse().unwrap()))
    );
}
