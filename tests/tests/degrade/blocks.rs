//! A full analytics block table (`decisions.max_blocks`): a finding past the
//! cap is still reported, blocks nobody, and is counted and warned about; the
//! clients blocked before stay blocked.

use http::StatusCode;
use palisade_models::BlockScope;
use palisade_tests::PROBES;
use palisade_tests::upstream::Upstream;

use crate::{TestClock, admin, log_text, metric_until, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_blocks_a_scanner_is_reported_but_not_blocked() {
    let up = Upstream::fixed(StatusCode::NOT_FOUND, "no").await;
    // Two scanners, each seen through a trusted proxy in front of Palisade.
    let side = start(
        &up,
        std::sync::Arc::new(TestClock::default()),
        "[proxy]\ntrusted_proxies = [\"127.0.0.1/32\"]\n[decisions]\nmax_blocks = 1\n",
    );
    let c = reqwest::Client::new();
    let (first, second) = ("198.51.100.1", "198.51.100.2");
    for ip in [first, second] {
        for p in PROBES {
            c.get(side.url(p))
                .header("x-forwarded-for", ip)
                .send()
                .await
                .unwrap();
        }
    }
    // The first scanner filled the table; the second's finding blocks nobody.
    metric_until(&side, "palisade_analytics_blocks_withheld_total", |v| {
        v >= 1.0
    })
    .await;
    let blocks = side.palisade.blocks().clone();
    let in_force = blocks.in_force(blocks.now_ms());
    let scope = |ip: &str| BlockScope::Ip(ip.parse().unwrap());
    assert!(
        in_force.iter().any(|b| b.scope == scope(first)),
        "{in_force:?}"
    );
    assert!(
        !in_force.iter().any(|b| b.scope == scope(second)),
        "{in_force:?}"
    );
    let status = |ip: &'static str| {
        let c = c.clone();
        let url = side.url("/ok");
        async move {
            c.get(url)
                .header("x-forwarded-for", ip)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(status(first).await, StatusCode::FORBIDDEN);
    assert_eq!(status(second).await, StatusCode::NOT_FOUND, "served");
    // Reported all the same, and loud about the cap.
    let (code, body) = admin(&side, &format!("/api/findings?client={second}")).await;
    assert_eq!(code, 200, "{body}");
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "probing"),
        "{body}"
    );
    let log = log_text();
    assert!(
        log.contains("analytics block table full") && log.contains("decisions.max_blocks"),
        "{log}"
    );
}
