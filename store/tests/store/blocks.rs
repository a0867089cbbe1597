use palisade_store::{AuditAction, Store};

use crate::{admin, new_block, temp_store};

#[test]
fn blocks_round_trip_with_an_audit_record_per_change() {
    let (_dir, store) = temp_store();
    let one = store
        .insert_block(new_block("alice", 1_000, None), &admin(1_000))
        .unwrap();
    assert_eq!(one.id, 1);
    let more = store
        .insert_blocks(
            vec![
                new_block("bob", 2_000, Some(9_000)),
                new_block("carol", 3_000, None),
            ],
            &admin(3_000),
        )
        .unwrap();
    assert_eq!(more.iter().map(|b| b.id).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(&*more[0].scope.to_string(), "subject:bob");

    let all = store.blocks().unwrap();
    assert_eq!(all, [vec![one.clone()], more.clone()].concat());

    let removed = store.remove_block(2, &admin(5_000)).unwrap();
    assert_eq!(removed.as_ref(), Some(&more[0]));
    assert_eq!(store.remove_block(2, &admin(6_000)).unwrap(), None);
    assert_eq!(store.remove_block(99, &admin(6_000)).unwrap(), None);
    assert_eq!(
        store
            .blocks()
            .unwrap()
            .iter()
            .map(|b| b.id)
            .collect::<Vec<_>>(),
        [1, 3]
    );

    let trail = store.audit(10).unwrap();
    let summary: Vec<_> = trail
        .iter()
        .map(|r| (r.seq, r.action, r.block.id, r.at_ms))
        .collect();
    assert_eq!(
        summary,
        [
            (4, AuditAction::BlockRemoved, 2, 5_000),
            (3, AuditAction::BlockCreated, 3, 3_000),
            (2, AuditAction::BlockCreated, 2, 2_000),
            (1, AuditAction::BlockCreated, 1, 1_000),
        ],
        "newest first; creations at the block's created_ms, removals at the caller's time; \
         no record for removing a missing block"
    );
    assert!(
        trail
            .iter()
            .all(|r| &*r.actor == "admin:t1" && &*r.reason == "operator request")
    );
    assert_eq!(store.audit(2).unwrap(), trail[..2]);
    assert!(
        store
            .insert_blocks(Vec::new(), &admin(0))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn block_ids_continue_after_reopen_and_are_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    {
        let store = Store::open(&path).unwrap();
        store
            .insert_blocks(
                vec![new_block("a", 1, None), new_block("b", 2, None)],
                &admin(2),
            )
            .unwrap();
        // Deleting the newest block must not hand its id out again.
        store.remove_block(2, &admin(3)).unwrap().unwrap();
    }
    let store = Store::open(&path).unwrap();
    let b = store
        .insert_block(new_block("c", 4, None), &admin(4))
        .unwrap();
    assert_eq!(b.id, 3);
    assert_eq!(store.blocks().unwrap().len(), 2);
    assert_eq!(
        store.audit(1).unwrap()[0].seq,
        4,
        "audit numbers continue too"
    );
}

#[test]
fn sweep_removes_only_expired_blocks_and_audits_them() {
    let (_dir, store) = temp_store();
    store
        .insert_blocks(
            vec![
                new_block("forever", 0, None),
                new_block("short", 0, Some(1_000)),
                new_block("long", 0, Some(2_000)),
            ],
            &admin(0),
        )
        .unwrap();
    let active: Vec<_> = store
        .active_blocks(1_500)
        .unwrap()
        .into_iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(active, [1, 3]);
    assert_eq!(store.blocks().unwrap().len(), 3, "reading does not delete");

    assert!(store.sweep_blocks(999).unwrap().is_empty());
    let swept = store.sweep_blocks(1_000).unwrap();
    assert_eq!(swept.iter().map(|b| b.id).collect::<Vec<_>>(), [2]);
    assert!(store.sweep_blocks(1_000).unwrap().is_empty());
    assert_eq!(
        store
            .blocks()
            .unwrap()
            .iter()
            .map(|b| b.id)
            .collect::<Vec<_>>(),
        [1, 3]
    );

    let trail = store.audit(10).unwrap();
    assert_eq!(trail.len(), 4, "three creations and one expiry");
    assert_eq!(trail[0].action, AuditAction::BlockExpired);
    assert_eq!(&*trail[0].actor, "sweeper");
    assert_eq!(trail[0].at_ms, 1_000);
    assert_eq!(trail[0].block.id, 2);
}
