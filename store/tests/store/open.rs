use palisade_store::{SCHEMA_VERSION, Store, StoreError};
use redb::{ReadableDatabase, TableDefinition};

use crate::{admin, new_block};

/// The schema table as any version of Palisade lays it out.
const SCHEMA: TableDefinition<&str, u64> = TableDefinition::new("schema");

#[test]
fn open_creates_the_directory_and_reopens_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("nested").join("palisade.redb");
    {
        let store = Store::open(&path).unwrap();
        assert_eq!(store.path(), path);
        store
            .insert_block(new_block("a", 1, None), &admin(1))
            .unwrap();
        let dbg = format!("{store:?}");
        assert!(dbg.contains("palisade.redb"), "{dbg}");
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.blocks().unwrap().len(), 1);

    let db = redb::Database::open(&path);
    assert!(db.is_err(), "the store holds the file");
    drop(store);
    let db = redb::Database::open(&path).unwrap();
    let version = db
        .begin_read()
        .unwrap()
        .open_table(SCHEMA)
        .unwrap()
        .get("version")
        .unwrap()
        .map(|v| v.value());
    assert_eq!(version, Some(SCHEMA_VERSION));
}

#[test]
fn a_file_from_a_newer_schema_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("palisade.redb");
    drop(Store::open(&path).unwrap());
    {
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(SCHEMA)
            .unwrap()
            .insert("version", SCHEMA_VERSION + 1)
            .unwrap();
        txn.commit().unwrap();
    }

    let err = Store::open(&path).unwrap_err();
    match &err {
        StoreError::NewerSchema {
            path: p,
            found,
            supported,
        } => {
            assert_eq!(p, &path);
            assert_eq!(*found, SCHEMA_VERSION + 1);
            assert_eq!(*supported, SCHEMA_VERSION);
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    assert!(err.to_string().contains("newer Palisade"), "{err}");

    let db = redb::Database::open(&path).unwrap();
    let version = db
        .begin_read()
        .unwrap()
        .open_table(SCHEMA)
        .unwrap()
        .get("version")
        .unwrap()
        .map(|v| v.value());
    assert_eq!(
        version,
        Some(SCHEMA_VERSION + 1),
        "nothing was migrated down"
    );
}

#[test]
fn a_second_open_of_the_same_file_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("palisade.redb");
    let first = Store::open(&path).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(&err, StoreError::Locked { path: p } if p == &path),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("another Palisade"), "{text}");
    assert!(text.contains("data directory"), "{text}");
    drop(first);
    Store::open(&path).unwrap();
}

#[test]
fn a_garbage_file_is_reported_as_corrupt_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.redb");
    let bytes: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&big, &bytes).unwrap();
    let short = dir.path().join("short.redb");
    std::fs::write(&short, b"not a database\n").unwrap();

    for path in [big, short] {
        let err = Store::open(&path).unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt { path: p, .. } if p == &path),
            "{}: {err:?}",
            path.display()
        );
        let text = err.to_string();
        assert!(text.contains(&*path.to_string_lossy()), "{text}");
        assert!(text.contains("move the file aside"), "{text}");
    }
}

#[test]
fn a_version_1_file_gains_the_outbox_and_keeps_its_blocks() {
    use palisade_models::config::WhenFull;
    use palisade_models::{BlockScope, SiemCategory};
    use palisade_store::OutboxPolicy;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("palisade.redb");
    // A file as version 1 wrote it: its tables, one block, version 1.
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(SCHEMA)
            .unwrap()
            .insert("version", 1)
            .unwrap();
        for name in ["blocks", "audit"] {
            txn.open_table(TableDefinition::<u64, &[u8]>::new(name))
                .unwrap();
        }
        txn.open_table(TableDefinition::<u128, &[u8]>::new("findings"))
            .unwrap();
        for name in ["endpoints", "snapshots"] {
            txn.open_table(TableDefinition::<&str, &[u8]>::new(name))
                .unwrap();
        }
        let block = new_block("old", 1, None).into_block(7);
        txn.open_table(TableDefinition::<u64, &[u8]>::new("blocks"))
            .unwrap()
            .insert(7, serde_json::to_vec(&block).unwrap().as_slice())
            .unwrap();
        txn.open_table(TableDefinition::<&str, u64>::new("sequences"))
            .unwrap()
            .insert("block_id", 8)
            .unwrap();
        txn.commit().unwrap();
    }
    let store = Store::open(&path).unwrap();
    let blocks = store.blocks().unwrap();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].scope, BlockScope::Subject("old".into()));
    let policy = OutboxPolicy {
        mask: SiemCategory::Blocks.bit(),
        max_records: 10,
        when_full: WhenFull::DropOldest,
    };
    store.configure_outbox(policy, &["soc"]).unwrap();
    let b = store
        .insert_block(new_block("new", 2, None), &admin(2))
        .unwrap();
    assert_eq!(b.id, 8);
    let batch = store
        .outbox_batch("soc", SiemCategory::Blocks.bit(), 10)
        .unwrap();
    assert_eq!(batch.records.len(), 1);
    assert!(
        batch.records[0].id.ends_with("-1"),
        "{}",
        batch.records[0].id
    );
}
