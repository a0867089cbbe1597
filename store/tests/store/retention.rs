use palisade_models::{FindingId, FindingKind, Severity};
use palisade_store::{FindingFilter, PageRequest, Retention};

use crate::{admin, finding, new_block, temp_store};

#[test]
fn retention_bounds_findings_by_age_and_count_and_audit_by_count() {
    let (_dir, store) = temp_store();
    let findings: Vec<_> = (0..100u64)
        .map(|i| {
            finding(
                FindingId::new(10_000 + i * 100, u128::from(i)),
                FindingKind::Probing,
                Severity::Low,
                None,
                None,
                None,
            )
        })
        .collect();
    store.insert_findings(&findings).unwrap();
    for i in 0..5 {
        store
            .insert_block(new_block(&format!("u{i}"), i, None), &admin(i))
            .unwrap();
    }

    let keep_all = Retention {
        max_age_ms: u64::MAX,
        max_findings: u64::MAX,
        max_audit: u64::MAX,
    };
    assert_eq!(store.apply_retention(20_000, &keep_all).unwrap(), 0);

    // At 20_000 with a 5_000 ms age limit, findings made before 15_000 go: 50 of them.
    let by_age = Retention {
        max_age_ms: 5_000,
        ..keep_all
    };
    assert_eq!(store.apply_retention(20_000, &by_age).unwrap(), 50);
    assert_eq!(store.count_findings().unwrap(), 50);

    let by_count = Retention {
        max_age_ms: 5_000,
        max_findings: 30,
        max_audit: 2,
    };
    assert_eq!(store.apply_retention(20_000, &by_count).unwrap(), 20 + 3);
    assert_eq!(store.apply_retention(20_000, &by_count).unwrap(), 0);

    let left = store
        .findings(
            &FindingFilter::default(),
            PageRequest {
                after: None,
                limit: 100,
            },
        )
        .unwrap();
    let newest_30: Vec<_> = findings.iter().rev().take(30).map(|f| f.id).collect();
    assert_eq!(
        left.items.iter().map(|f| f.id).collect::<Vec<_>>(),
        newest_30,
        "the newest are kept"
    );
    let trail = store.audit(10).unwrap();
    assert_eq!(
        trail.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [5, 4],
        "the newest audit records are kept"
    );
    assert_eq!(
        store.blocks().unwrap().len(),
        5,
        "blocks are not retention's"
    );
}
