use super::*;
use crate::segments::{self, SegmentWriter};
use crate::testutil::{Req, window};
use arrow_array::{Array, StringArray, TimestampMicrosecondArray, UInt16Array};

fn reqs(n: u64, t0: u64) -> Vec<Req> {
    (0..n)
        .map(|i| {
            let mut r = Req::get(
                t0 + i * 10,
                [10, 0, 0, (i % 3) as u8],
                "GET /orders/{id}",
                format!("/orders/{i}"),
            );
            r.status = if i.is_multiple_of(4) { 404 } else { 200 };
            r
        })
        .collect()
}

fn read_all(bytes: Vec<u8>) -> Vec<RecordBatch> {
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(bytes),
    )
    .unwrap()
    .build()
    .unwrap();
    reader.map(Result::unwrap).collect()
}

#[test]
fn events_of_the_window_export_within_the_time_range() {
    let view = window(reqs(1000, 1_000_000));
    let reader = std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(view));
    let exporter = Exporter {
        segments: None,
        window: Some(reader),
        boot: 1,
        store: None,
    };
    let mut out = Vec::new();
    // Events 100..200 (10 ms apart).
    let n = exporter
        .export(
            &ExportQuery::Events {
                since_ms: 1_001_000,
                until_ms: 1_002_000,
            },
            &mut out,
        )
        .unwrap();
    assert_eq!(n, 100);
    let batches = read_all(out);
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 100);
    let b = &batches[0];
    assert_eq!(b.schema(), event_schema());
    let path = b
        .column_by_name("path")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(path.value(0), "/orders/100");
    let ts = b
        .column_by_name("ts")
        .unwrap()
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .unwrap();
    assert_eq!(ts.value(0), 1_001_000_000);
    let status = b
        .column_by_name("status")
        .unwrap()
        .as_any()
        .downcast_ref::<UInt16Array>()
        .unwrap();
    assert_eq!(status.value(0), 404);
    let subject = b.column_by_name("subject").unwrap();
    assert_eq!(subject.null_count(), b.num_rows(), "no subject: nulls");
}

#[test]
fn segments_and_the_window_together_hold_each_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let view = window(reqs(3000, 5_000_000));
    let mut writer = SegmentWriter::new(
        dir.path().to_path_buf(),
        7,
        segments::Retention {
            max_age_ms: u64::MAX,
            max_bytes: u64::MAX,
        },
    )
    .unwrap();
    let seg = writer
        .write_new(&view)
        .unwrap()
        .expect("a segment is written");
    assert_eq!(seg.first_ms, 5_000_000);
    assert_eq!(seg.last_ms, 5_000_000 + 2999 * 10);
    assert!(writer.write_new(&view).unwrap().is_none(), "nothing new");
    assert_eq!(segments::list(dir.path()).unwrap(), vec![seg.clone()]);
    // The same window still in memory, as after a run: its chunks are in the
    // segment, so the export must not count them twice.
    let exporter = Exporter {
        segments: Some(dir.path().to_path_buf()),
        window: Some(std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(view))),
        boot: 7,
        store: None,
    };
    let mut out = Vec::new();
    let q = ExportQuery::Events {
        since_ms: 0,
        until_ms: u64::MAX / 1000,
    };
    assert_eq!(exporter.export(&q, &mut out).unwrap(), 3000);
    // Another boot's exporter (after a restart) reads the segment and its own
    // window; here its window is empty.
    let offline = Exporter {
        window: None,
        boot: 8,
        ..exporter
    };
    let mut out = Vec::new();
    assert_eq!(offline.export(&q, &mut out).unwrap(), 3000);
    assert_eq!(
        read_all(out).iter().map(|b| b.num_rows()).sum::<usize>(),
        3000
    );
}

#[test]
fn retention_deletes_old_and_excess_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = SegmentWriter::new(
        dir.path().to_path_buf(),
        1,
        segments::Retention {
            max_age_ms: 60_000,
            max_bytes: u64::MAX,
        },
    )
    .unwrap();
    let mut w = palisade_analytics::window::Window::new(palisade_analytics::window::WindowLimits {
        max_bytes: 1 << 30,
        max_age_ms: u64::MAX / 2,
    });
    for (i, t) in [1_000_000u64, 2_000_000, 3_000_000].iter().enumerate() {
        for r in reqs(10, *t) {
            let ev = palisade_models::RequestEvent {
                ts_unix_us: r.ts_ms * 1000,
                path: r.path.into(),
                ..palisade_models::RequestEvent::example()
            };
            w.push(&ev, None);
        }
        w.seal();
        writer.write_new(&w.reader().load()).unwrap();
        assert_eq!(segments::list(dir.path()).unwrap().len(), i + 1);
    }
    // Now = 2_050_000: the first segment (1_000_000..1_000_090) is past a minute.
    assert_eq!(writer.enforce_retention(2_050_000).unwrap(), 1);
    let left = segments::list(dir.path()).unwrap();
    assert_eq!(left.len(), 2);
    assert_eq!(left[0].first_ms, 2_000_000);
    let one = left[1].bytes;
    let small = SegmentWriter::new(
        dir.path().to_path_buf(),
        1,
        segments::Retention {
            max_age_ms: u64::MAX,
            max_bytes: one,
        },
    )
    .unwrap();
    assert_eq!(
        small.enforce_retention(0).unwrap(),
        1,
        "over the size bound"
    );
    assert_eq!(segments::list(dir.path()).unwrap()[0].first_ms, 3_000_000);
}

#[test]
fn findings_export_by_time_and_kind() {
    use palisade_models::{FindingClient, FindingId, FindingKind, Severity};
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
    let finding = |ms: u64, kind: FindingKind| Finding {
        instance: None,
        id: FindingId::new(ms, u128::from(ms)),
        kind,
        severity: Severity::High,
        confidence: 0.9,
        client: FindingClient {
            ip: Some("192.0.2.1".parse().unwrap()),
            ..FindingClient::default()
        },
        endpoint: Some("GET /x".into()),
        window_start_ms: ms - 1000,
        window_end_ms: ms,
        summary: "s".into(),
        evidence: serde_json::Map::new(),
        request: None,
    };
    let all: Vec<Finding> = (0..30u64)
        .map(|i| {
            let kind = if i.is_multiple_of(3) {
                FindingKind::Scraping
            } else {
                FindingKind::Probing
            };
            finding(1_000_000 + i * 1000, kind)
        })
        .collect();
    store.insert_findings(&all).unwrap();
    let exporter = Exporter {
        segments: None,
        window: None,
        boot: 1,
        store: Some(store),
    };
    let mut out = Vec::new();
    let n = exporter
        .export(
            &ExportQuery::Findings {
                since_ms: 1_010_000,
                until_ms: 1_020_000,
                kinds: vec![FindingKind::Scraping],
            },
            &mut out,
        )
        .unwrap();
    // i in 10..20 with i % 3 == 0: 12, 15, 18.
    assert_eq!(n, 3);
    let batches = read_all(out);
    let kind = batches[0]
        .column_by_name("kind")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert!(kind.iter().all(|k| k == Some("scraping")));
    assert_eq!(batches[0].schema(), finding_schema());
}
