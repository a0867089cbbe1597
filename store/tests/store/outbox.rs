//! The SIEM outbox: queued in the same transaction as the fact, kept once for all
//! sinks, deleted when every sink is past it, bounded, and durable across reopen.

use palisade_models::config::WhenFull;
use palisade_models::{FindingId, FindingKind, Severity, SiemCategory, SiemEvent};
use palisade_store::{OutboxPolicy, Store};

use super::{admin, finding, new_block, temp_store};

fn policy(categories: &[SiemCategory], max: u64, when_full: WhenFull) -> OutboxPolicy {
    OutboxPolicy {
        mask: categories.iter().fold(0, |m, c| m | c.bit()),
        max_records: max,
        when_full,
    }
}

const ALL: [SiemCategory; 3] = [
    SiemCategory::Findings,
    SiemCategory::Blocks,
    SiemCategory::Unblocks,
];

fn mask(categories: &[SiemCategory]) -> u8 {
    categories.iter().fold(0, |m, c| m | c.bit())
}

#[allow(clippy::unwrap_used)]
fn insert_findings(store: &Store, from: u64, n: u64) {
    let fs: Vec<_> = (from..from + n)
        .map(|i| {
            finding(
                FindingId::new(1_000 + i, u128::from(i)),
                FindingKind::Scraping,
                Severity::High,
                None,
                Some("alice"),
                None,
            )
        })
        .collect();
    store.insert_findings(&fs).unwrap();
}

#[test]
fn a_record_is_kept_until_every_sink_is_past_it() {
    let (_dir, store) = temp_store();
    store
        .configure_outbox(policy(&ALL, 100, WhenFull::DropOldest), &["a", "b"])
        .unwrap();
    insert_findings(&store, 0, 2);
    let block = store
        .insert_block(new_block("bob", 5_000, None), &admin(5_000))
        .unwrap();
    store.remove_block(block.id, &admin(6_000)).unwrap();
    assert_eq!(store.outbox_len().unwrap(), 4);

    let batch = store.outbox_batch("a", mask(&ALL), 10).unwrap();
    let kinds: Vec<_> = batch.records.iter().map(|r| r.event.category()).collect();
    assert_eq!(
        kinds,
        [
            SiemCategory::Findings,
            SiemCategory::Findings,
            SiemCategory::Blocks,
            SiemCategory::Unblocks
        ]
    );
    let seqs: Vec<_> = batch.records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    assert_eq!(batch.scanned_to, 4);
    // Ids are `<instance>-<seq>`, the same instance for every record.
    let instance = batch.records[0].id.split('-').next().unwrap().to_string();
    assert!(
        batch
            .records
            .iter()
            .all(|r| *r.id == *format!("{instance}-{}", r.seq))
    );
    match &batch.records[3].event {
        SiemEvent::Unblock {
            reason, expired, ..
        } => {
            assert_eq!(&**reason, "operator request");
            assert!(!expired);
        }
        other => panic!("expected an unblock, got {other:?}"),
    }
    assert_eq!(batch.records[2].created_ms, 5_000);
    assert_eq!(batch.records[3].created_ms, 6_000);

    store.outbox_ack("a", 4).unwrap();
    assert_eq!(store.outbox_len().unwrap(), 4, "b has not had them yet");
    assert!(
        store
            .outbox_batch("a", mask(&ALL), 10)
            .unwrap()
            .records
            .is_empty()
    );
    store.outbox_ack("b", 2).unwrap();
    assert_eq!(store.outbox_len().unwrap(), 2);
    let depths = store.outbox_depths().unwrap();
    let depth = |s: &str| depths.iter().find(|d| &*d.sink == s).unwrap().depth;
    assert_eq!((depth("a"), depth("b")), (0, 2));
    store.outbox_ack("b", 4).unwrap();
    assert_eq!(store.outbox_len().unwrap(), 0);
}

#[test]
fn a_retried_finding_batch_is_queued_once() {
    let (_dir, store) = temp_store();
    store
        .configure_outbox(policy(&ALL, 100, WhenFull::DropOldest), &["a"])
        .unwrap();
    insert_findings(&store, 0, 3);
    insert_findings(&store, 0, 3);
    assert_eq!(store.outbox_len().unwrap(), 3);
}

#[test]
fn only_wanted_categories_are_queued_and_sent() {
    let (_dir, store) = temp_store();
    store
        .configure_outbox(
            policy(&[SiemCategory::Findings], 100, WhenFull::DropOldest),
            &["a"],
        )
        .unwrap();
    store
        .insert_block(new_block("bob", 5_000, None), &admin(5_000))
        .unwrap();
    assert_eq!(store.outbox_len().unwrap(), 0, "no sink wants blocks");

    // Two sinks with different wants share the records.
    store
        .configure_outbox(
            policy(&ALL, 100, WhenFull::DropOldest),
            &["a", "blocks-only"],
        )
        .unwrap();
    insert_findings(&store, 0, 2);
    store
        .insert_block(new_block("carol", 6_000, None), &admin(6_000))
        .unwrap();
    let batch = store
        .outbox_batch("blocks-only", SiemCategory::Blocks.bit(), 10)
        .unwrap();
    assert_eq!(batch.records.len(), 1);
    assert_eq!(batch.records[0].event.category(), SiemCategory::Blocks);
    assert_eq!(batch.scanned_to, 3, "the findings it skips are passed too");
}

#[test]
fn a_full_outbox_drops_the_oldest_or_refuses_the_newest() {
    let (_dir, store) = temp_store();
    store
        .configure_outbox(policy(&ALL, 3, WhenFull::DropOldest), &["a"])
        .unwrap();
    insert_findings(&store, 0, 5);
    let batch = store.outbox_batch("a", mask(&ALL), 10).unwrap();
    let seqs: Vec<_> = batch.records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [3, 4, 5]);
    assert_eq!(store.outbox_dropped(), 2);
    assert_eq!(store.outbox_depths().unwrap()[0].depth, 3);

    let (_dir, store) = temp_store();
    store
        .configure_outbox(policy(&ALL, 3, WhenFull::RefuseNew), &["a"])
        .unwrap();
    insert_findings(&store, 0, 5);
    let batch = store.outbox_batch("a", mask(&ALL), 10).unwrap();
    let seqs: Vec<_> = batch.records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(store.outbox_dropped(), 2);
    // The findings themselves are all stored either way.
    assert_eq!(store.count_findings().unwrap(), 5);
}

#[test]
fn a_dead_letter_is_kept_and_passed() {
    let (_dir, store) = temp_store();
    store
        .configure_outbox(policy(&ALL, 100, WhenFull::DropOldest), &["a"])
        .unwrap();
    insert_findings(&store, 0, 2);
    let batch = store.outbox_batch("a", mask(&ALL), 10).unwrap();
    store
        .outbox_dead_letter("a", &batch.records[0], "400: bad event", 9_000)
        .unwrap();
    let next = store.outbox_batch("a", mask(&ALL), 10).unwrap();
    assert_eq!(next.records.len(), 1);
    assert_eq!(next.records[0].seq, 2);
    let dead = store.dead_letters(None, 10).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(&*dead[0].reason, "400: bad event");
    assert_eq!(dead[0].record, batch.records[0]);
    assert_eq!(store.dead_letters(Some("other"), 10).unwrap().len(), 0);
    assert_eq!(store.count_dead_letters().unwrap(), 1);
}

#[test]
fn records_and_cursors_survive_reopen_and_new_sinks_start_at_the_head() {
    let (dir, store) = temp_store();
    let path = store.path().to_path_buf();
    store
        .configure_outbox(policy(&ALL, 100, WhenFull::DropOldest), &["a"])
        .unwrap();
    insert_findings(&store, 0, 3);
    store.outbox_ack("a", 1).unwrap();
    let before = store.outbox_batch("a", mask(&ALL), 10).unwrap();
    drop(store);

    let store = Store::open(&path).unwrap();
    // Nothing is queued until the outbox is configured again.
    store
        .configure_outbox(policy(&ALL, 100, WhenFull::DropOldest), &["a", "late"])
        .unwrap();
    let after = store.outbox_batch("a", mask(&ALL), 10).unwrap();
    assert_eq!(after, before, "same records, same ids");
    assert!(
        store
            .outbox_batch("late", mask(&ALL), 10)
            .unwrap()
            .records
            .is_empty()
    );
    insert_findings(&store, 10, 1);
    let late = store.outbox_batch("late", mask(&ALL), 10).unwrap();
    assert_eq!(late.records.len(), 1);
    assert_eq!(late.records[0].seq, 4, "sequence numbers are never reused");

    // A sink removed from the config lets go of what it held.
    let forgotten = store
        .configure_outbox(policy(&ALL, 100, WhenFull::DropOldest), &["late"])
        .unwrap();
    assert_eq!(forgotten, ["a"]);
    assert_eq!(store.outbox_len().unwrap(), 1);
    assert!(store.outbox_batch("a", mask(&ALL), 10).is_err());
    drop(dir);
}

#[test]
fn stores_have_different_instance_numbers() {
    let (_d1, s1) = temp_store();
    let (_d2, s2) = temp_store();
    let mut ids = Vec::new();
    for s in [&s1, &s2] {
        s.configure_outbox(policy(&ALL, 100, WhenFull::DropOldest), &["a"])
            .unwrap();
        insert_findings(s, 0, 1);
        ids.push(
            s.outbox_batch("a", mask(&ALL), 1).unwrap().records[0]
                .id
                .clone(),
        );
    }
    assert_ne!(ids[0], ids[1]);
}
