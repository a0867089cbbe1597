//! The store filling its quota (`store.max_bytes`): Palisade goes on serving,
//! detecting and blocking from memory, findings still reach the admin API, and
//! `palisade_store_degraded` says 1; never a crash. Recovery when retention
//! frees space is proven in the store's own tests (store/tests/store/quota.rs).

use std::time::SystemTime;

use http::StatusCode;
use palisade_models::{
    BlockScope, Finding, FindingClient, FindingId, FindingKind, Severity, unix_ms,
};
use palisade_store::Store;
use palisade_tests::PROBES;
use palisade_tests::upstream::Upstream;

use crate::{TestClock, admin, log_text, metric, metric_until, start};

/// Fills a store at `path` past 1 MiB with recent findings (which retention
/// keeps), as a store that has reached its quota would be.
fn fill(path: &std::path::Path) {
    let store = Store::open(path).unwrap();
    let now = unix_ms(SystemTime::now());
    let findings: Vec<Finding> = (0..400u64)
        .map(|i| Finding {
            instance: None,
            id: FindingId::new(now - 60_000 + i, u128::from(i)),
            kind: FindingKind::Probing,
            severity: Severity::Low,
            confidence: 0.5,
            client: FindingClient {
                ip: Some("192.0.2.7".parse().unwrap()),
                subject: None,
                api_key_id: None,
            },
            endpoint: None,
            window_start_ms: now - 120_000,
            window_end_ms: now - 60_000,
            summary: "x".repeat(4000).into(),
            evidence: serde_json::Map::new(),
            request: None,
        })
        .collect();
    for chunk in findings.chunks(50) {
        store.insert_findings(chunk).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_past_its_quota_degrades_to_memory_only_and_keeps_protecting() {
    let up = Upstream::fixed(StatusCode::NOT_FOUND, "no").await;
    let data = tempfile::tempdir().unwrap();
    let db = data.path().join("palisade.redb");
    fill(&db);
    let side = start(
        &up,
        std::sync::Arc::new(TestClock::default()),
        &format!(
            "[store]\npath = \"{}\"\nmax_bytes = 1048576\n",
            db.display()
        ),
    );
    assert_eq!(metric(&side, "palisade_store_degraded").await, Some(0.0));

    let c = reqwest::Client::new();
    let r = c.get(side.url("/ok")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "served by the upstream");
    for p in PROBES {
        c.get(side.url(p)).send().await.unwrap();
    }
    // Detection and blocking go on: the prober is refused at the proxy.
    let localhost = BlockScope::Ip("127.0.0.1".parse().unwrap());
    let blocks = side.palisade.blocks().clone();
    palisade_tests::eventually("analytics blocks the prober", || {
        blocks
            .in_force(blocks.now_ms())
            .iter()
            .any(|b| b.scope == localhost)
    })
    .await;
    let r = c.get(side.url("/ok")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // The store refused the finding: memory-only, and loud about it.
    metric_until(&side, "palisade_store_degraded", |v| v == 1.0).await;
    assert!(metric(&side, "palisade_store_unpersisted_records_total").await >= Some(1.0));
    assert!(metric(&side, "palisade_store_memory_findings").await >= Some(1.0));
    let log = log_text();
    assert!(
        log.contains("the store refuses writes") && log.contains("store.max_bytes"),
        "{log}"
    );

    // The finding still reaches the admin API, from memory, newest first.
    let (status, body) = admin(&side, "/api/findings?client=127.0.0.1").await;
    assert_eq!(status, 200, "{body}");
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    let probing = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "probing")
        .unwrap_or_else(|| panic!("no probing finding listed: {body}"));
    let id = probing["id"].as_str().unwrap();
    let (status, _) = admin(&side, &format!("/api/findings/{id}")).await;
    assert_eq!(status, 200);
    // The stored ones are still listed too.
    let (_, body) = admin(&side, "/api/findings?client=192.0.2.7&limit=1000").await;
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 400);

    // Still ready: the proxy protects; readiness reports the store's state.
    let addr = side.palisade.admin_addr().unwrap();
    let r = c.get(format!("http://{addr}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let ready: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(ready["checks"]["store_writes"], false, "{ready}");
}
