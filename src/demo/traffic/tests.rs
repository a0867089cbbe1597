//! The demo end to end: the sample API behind Palisade with the embedded demo
//! config, driven at `Pace::fast()`, until every kind of attack has been found.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use palisade_models::{BlockOrigin, BlockScope, Finding, FindingKind};
use palisade_store::{FindingFilter, PageRequest};

use super::*;
use crate::app::PalisadeBuilder;
use crate::demo::{self, sample_api};

/// The attacks the driver makes, as the findings they must lead to.
const ATTACKS: [FindingKind; 6] = [
    FindingKind::BolaEnumeration,
    FindingKind::Probing,
    FindingKind::CredentialStuffing,
    FindingKind::Scraping,
    FindingKind::BruteForce,
    FindingKind::Signature,
];

/// A store directory removed when the test ends, pass or fail.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attack_is_found_and_blocked_and_no_shopper_is() {
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = api.local_addr().unwrap();
    let stop_api = CancellationToken::new();
    let api_task = tokio::spawn(sample_api::serve(api, stop_api.clone()));

    let dir = TempDir(std::env::temp_dir().join(format!(
        "palisade-demo-traffic-{}-{:016x}",
        std::process::id(),
        fastrand::u64(..)
    )));
    let mut config = demo::config("127.0.0.1:0", api_addr).unwrap();
    config.store.path = dir.0.join("palisade.redb").display().to_string();
    let palisade = PalisadeBuilder::new(config).start().unwrap();
    let proxy = palisade.plain_addrs()[0];

    let stop = CancellationToken::new();
    let started = Instant::now();
    let counters = Arc::new(Counters::default());
    let driver = tokio::spawn(drive_with(
        proxy,
        stop.clone(),
        Pace::fast(),
        counters.clone(),
    ));

    // Every attack kind found against an attacker, blocks made by analytics, and
    // six waves that ended because their attacker was blocked.
    let store = palisade.store().clone();
    let deadline = started + Duration::from_secs(90);
    loop {
        let found: BTreeSet<FindingKind> = findings(&store)
            .iter()
            .filter(|f| f.client.ip.is_some_and(|ip| !is_shopper(ip)))
            .map(|f| f.kind)
            .collect();
        let analytics_blocks = store
            .blocks()
            .unwrap()
            .iter()
            .filter(|b| b.origin == BlockOrigin::Analytics)
            .count();
        let summary = counters.snapshot();
        if ATTACKS.iter().all(|k| found.contains(k))
            && analytics_blocks > 0
            && summary.waves_blocked >= 6
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after 90 s, found only {found:?} with {analytics_blocks} analytics blocks; {summary:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed();
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(15), driver)
        .await
        .expect("the driver stops when told")
        .unwrap();
    // Stopping drains analytics: every request sent is judged below.
    palisade.shutdown().await;
    stop_api.cancel();
    let _ = api_task.await;

    // Shoppers: plenty of traffic, never blocked, never a finding.
    let summary = counters.snapshot();
    assert!(summary.shopper_requests > 50, "{summary:?}");
    assert_eq!(summary.shoppers_blocked, 0, "{summary:?}");
    let findings = findings(&store);
    let about_shoppers: Vec<_> = findings
        .iter()
        .filter(|f| f.client.ip.is_some_and(is_shopper))
        .map(|f| (f.kind, f.severity, &f.summary))
        .collect();
    assert!(about_shoppers.is_empty(), "{about_shoppers:?}");
    let blocks = store.blocks().unwrap();
    for b in &blocks {
        if let BlockScope::Ip(ip) = b.scope {
            assert!(!is_shopper(ip), "a shopper was blocked: {b:?}");
        }
    }
    eprintln!(
        "all six attack kinds found in {elapsed:?}; {summary:?}; {} findings, {} blocks",
        findings.len(),
        blocks.len()
    );
}

/// The newest 1000 findings (more than a test makes).
fn findings(store: &palisade_store::Store) -> Vec<Finding> {
    let page = PageRequest {
        after: None,
        limit: 1000,
    };
    store
        .findings(&FindingFilter::default(), page)
        .unwrap()
        .items
}
