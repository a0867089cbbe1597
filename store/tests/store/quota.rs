//! The quota (`store.max_bytes`): past it, writes that add records are refused,
//! the store is degraded, findings are kept in memory where reads still find
//! them, and everything is written once retention frees space.

use palisade_models::{Finding, FindingId, FindingKind, Severity};
use palisade_store::{FindingFilter, PageRequest, Retention, Saved, StoreError};

use crate::{finding, temp_store};

const MAX: u64 = 2 * 1024 * 1024;

fn batch(from: u64, n: u64) -> Vec<Finding> {
    (from..from + n)
        .map(|i| {
            let mut f = finding(
                FindingId::new(1_000_000 + i, u128::from(i)),
                FindingKind::Probing,
                Severity::High,
                None,
                Some("alice"),
                Some("GET /users/{id}"),
            );
            // Large records fill the quota in a few hundred writes.
            f.summary = "x".repeat(2000).into();
            f
        })
        .collect()
}

#[test]
fn past_its_quota_the_store_keeps_findings_in_memory_and_recovers_when_retention_frees_space() {
    let (dir, store) = temp_store();
    store.set_max_bytes(MAX);
    let mut next = 0;
    let refused = loop {
        assert!(next < 20_000, "2 MiB never filled");
        match store.save_findings(batch(next, 10)) {
            Saved::Disk => next += 10,
            Saved::Memory(e) => break e,
        }
    };
    assert!(
        matches!(refused, StoreError::Full { max_bytes: MAX, .. }),
        "{refused}"
    );
    assert!(refused.to_string().contains("store.max_bytes"), "{refused}");
    let stored = next;
    let h = store.health();
    assert!(h.degraded);
    assert_eq!((h.unpersisted, h.memory_findings, h.lost), (10, 10, 0));

    // Refused without another attempt, still readable.
    assert!(matches!(
        store.save_findings(batch(next + 10, 10)),
        Saved::Memory(_)
    ));
    let newest = FindingId::new(1_000_000 + next + 19, u128::from(next + 19));
    let page = store
        .findings(
            &FindingFilter::default(),
            PageRequest {
                after: None,
                limit: 15,
            },
        )
        .unwrap();
    assert_eq!(page.items.len(), 15);
    assert_eq!(page.items[0].id, newest, "held findings are listed first");
    let rest = store
        .findings(
            &FindingFilter::default(),
            PageRequest {
                after: page.next,
                limit: 1000,
            },
        )
        .unwrap();
    assert_eq!(page.items.len() + rest.items.len(), stored as usize + 20);
    assert!(store.finding(newest).unwrap().is_some());
    assert_eq!(store.count_findings().unwrap(), stored + 20);
    // Nothing added went to disk: allocated bytes stay within the quota, so the
    // file did not grow by more than redb's last growth step.
    let len = std::fs::metadata(dir.path().join("palisade.redb"))
        .unwrap()
        .len();
    assert!(len <= 4 * MAX, "file {len} bytes");

    // Retention frees space: the next save writes the held findings too.
    let deleted = store
        .apply_retention(
            2_000_000,
            &Retention {
                max_age_ms: u64::MAX,
                max_findings: 10,
                max_audit: 100,
            },
        )
        .unwrap();
    assert_eq!(deleted, stored as usize - 10);
    assert!(matches!(
        store.save_findings(batch(next + 20, 1)),
        Saved::Disk
    ));
    let h = store.health();
    assert!(!h.degraded, "{h:?}");
    assert_eq!(h.memory_findings, 0);
    assert_eq!(h.unpersisted, 20, "counted when refused, not undone");
    assert_eq!(store.count_findings().unwrap(), 10 + 20 + 1);
    drop(store);
}

#[test]
fn the_memory_held_while_degraded_is_bounded() {
    let (_dir, store) = temp_store();
    store.set_max_bytes(MAX);
    let mut next = 0;
    while let Saved::Disk = store.save_findings(batch(next, 10)) {
        next += 10;
    }
    let more = palisade_store::MAX_MEMORY_FINDINGS as u64;
    assert!(matches!(
        store.save_findings(batch(next + 10, more)),
        Saved::Memory(_)
    ));
    let h = store.health();
    assert_eq!(h.memory_findings, more);
    assert_eq!(h.lost, 10, "the oldest held go first");
    assert_eq!(h.unpersisted, 10 + more);
}
