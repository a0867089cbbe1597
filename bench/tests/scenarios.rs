//! The analytics acceptance scenarios: seeded benign traffic with honest mistakes
//! and every attack, through the real engine and decision policy with blocks
//! enforced as the proxy enforces them. Every attack must be detected and its
//! actors blocked; no benign client may be blocked or named in a high-severity
//! finding. Simulated time: runs in seconds.

use palisade_bench::scenario::{self, AttackKind};
use palisade_models::FindingKind;

#[test]
fn every_attack_is_detected_and_blocked_and_no_benign_client_is() {
    for seed in [1, 2, 3] {
        let report = scenario::run(seed, &AttackKind::ALL);
        assert!(report.benign_clients > 200, "{}", report.benign_clients);
        for a in &report.attacks {
            assert!(
                a.requests_until_detection.is_some(),
                "seed {seed}: {} was not detected; findings: {:#?}",
                a.kind.name(),
                report
                    .findings
                    .iter()
                    .map(|f| format!("{} {:?} {}", f.kind, f.client, f.summary))
                    .collect::<Vec<_>>()
            );
            assert!(
                a.time_to_block_ms.is_some(),
                "seed {seed}: {} was never blocked",
                a.kind.name()
            );
            assert!(
                a.refused > 0,
                "seed {seed}: {}: the block refused nothing",
                a.kind.name()
            );
        }
        let spread = report
            .attacks
            .iter()
            .find(|a| a.kind == AttackKind::StuffingSpread)
            .unwrap();
        assert!(
            spread.actors_blocked * 10 >= spread.actors * 9,
            "seed {seed}: only {} of {} stuffing addresses blocked",
            spread.actors_blocked,
            spread.actors
        );
        assert!(
            report.benign_blocked.is_empty(),
            "seed {seed}: benign clients blocked: {:#?}",
            report.benign_blocked
        );
        assert!(
            report.benign_high_findings.is_empty(),
            "seed {seed}: high findings about benign clients: {:#?}",
            report.benign_high_findings
        );
    }
}

#[test]
fn benign_traffic_alone_raises_nothing_high() {
    let report = scenario::run(9, &[]);
    assert!(report.events > 15_000, "{}", report.events);
    let high: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity >= palisade_models::Severity::High)
        .collect();
    assert!(high.is_empty(), "{high:#?}");
    assert!(report.benign_blocked.is_empty());
    // Declared routes only: no shadow endpoints to report either.
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::NewEndpoint),
        "{:#?}",
        report.findings
    );
}

#[test]
fn a_bola_finding_shows_the_ids_walked_with_foreign_reads_marked() {
    let report = scenario::run(4, &[AttackKind::BolaExploit]);
    let f = report
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::BolaEnumeration)
        .expect("the exploit is found");
    let seq = f.evidence["sequence"].as_array().expect("a sequence");
    assert!(seq.len() >= 5, "{seq:?}");
    let foreign = seq.iter().filter(|s| s["outcome"] == "foreign").count();
    assert!(
        foreign * 2 >= seq.len(),
        "mostly other users' objects: {seq:?}"
    );
    assert!(
        seq.iter()
            .all(|s| s["id"].as_str().is_some_and(|id| !id.is_empty()))
    );
    let times: Vec<u64> = seq.iter().map(|s| s["at_ms"].as_u64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first");
}
