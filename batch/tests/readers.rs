//! Exports read back by an independent reader: DuckDB (its own C++ Parquet
//! implementation, not arrow-rs), from the virtualenv `scripts/install-pytools.sh`
//! makes (`.ci/run` runs it). Row counts and column types must be what an analyst
//! gets in DuckDB, pandas or polars: timestamps with a time zone, unsigned
//! integers, strings, booleans, nulls where a value is absent.

// A failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::*;
use palisade_batch::export::{ExportQuery, Exporter};
use palisade_models::{Finding, FindingClient, FindingId, FindingKind, Severity};
use palisade_store::Store;

/// The virtualenv's Python, where `scripts/install-pytools.sh` puts it.
fn python() -> PathBuf {
    let root = std::env::var_os("PALISADE_PYTOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/palisade-tools/py")
        });
    let py = root.join("bin/python");
    assert!(
        py.exists(),
        "{} is missing: run scripts/install-pytools.sh (DuckDB from PyPI into a virtualenv)",
        py.display()
    );
    py
}

/// `(rows, [(column, type)])` as DuckDB reads `file`.
fn duckdb(file: &Path) -> (u64, Vec<(String, String)>) {
    let script = r#"
import json, sys, duckdb
f = sys.argv[1]
con = duckdb.connect()
rows = con.execute(f"select count(*) from read_parquet('{f}')").fetchone()[0]
cols = [[r[0], r[1]] for r in con.execute(f"describe select * from read_parquet('{f}')").fetchall()]
print(json.dumps({"rows": rows, "columns": cols}))
"#;
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "duckdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cols = v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c[0].as_str().unwrap().to_string(),
                c[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (v["rows"].as_u64().unwrap(), cols)
}

fn duck_query(file: &Path, sql: &str) -> String {
    let script = r#"
import sys, duckdb
con = duckdb.connect()
print(con.execute(sys.argv[2].replace("FILE", f"read_parquet('{sys.argv[1]}')")).fetchall())
"#;
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(file)
        .arg(sql)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "duckdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn type_of<'a>(cols: &'a [(String, String)], name: &str) -> &'a str {
    &cols
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no column {name}: {cols:?}"))
        .1
}

#[test]
fn duckdb_reads_an_events_export() {
    let config = config("");
    let (evs, _) = traffic(20, 1, 3);
    let (_, window) = run_engine(&config, &evs);
    let exporter = Exporter {
        segments: None,
        window: Some(window.reader()),
        boot: 1,
        store: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.parquet");
    // The first ten minutes.
    let until = T0_MS + 10 * 60_000;
    let expected = evs.iter().filter(|e| e.ts_unix_us < until * 1000).count() as u64;
    let n = exporter
        .export(
            &ExportQuery::Events {
                since_ms: 0,
                until_ms: until,
            },
            std::fs::File::create(&file).unwrap(),
        )
        .unwrap();
    assert_eq!(n, expected);
    let (rows, cols) = duckdb(&file);
    assert_eq!(rows, expected);
    assert_eq!(cols.len(), 25, "{cols:?}");
    assert_eq!(type_of(&cols, "ts"), "TIMESTAMP WITH TIME ZONE");
    assert_eq!(type_of(&cols, "status"), "USMALLINT");
    assert_eq!(type_of(&cols, "latency_us"), "UBIGINT");
    assert_eq!(type_of(&cols, "path"), "VARCHAR");
    assert_eq!(type_of(&cols, "endpoint"), "VARCHAR");
    assert_eq!(type_of(&cols, "tls"), "BOOLEAN");
    assert_eq!(type_of(&cols, "signature_score"), "UINTEGER");
    // Values, not only types: a templated endpoint, no signature, the subject.
    assert_eq!(
        duck_query(
            &file,
            "select count(*) from FILE where endpoint = 'GET /api/catalog/items/{id}' and signature_score is null and subject like 'user%'"
        ),
        format!(
            "[({},)]",
            evs.iter()
                .filter(|e| e.ts_unix_us < until * 1000
                    && e.method == http::Method::GET
                    && e.path.starts_with("/api/catalog/items/")
                    && e.subject.as_deref().is_some_and(|s| s.starts_with("user")))
                .count()
        )
    );
}

#[test]
fn duckdb_reads_a_findings_export() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("p.redb")).unwrap());
    let findings: Vec<Finding> = (0..40u64)
        .map(|i| Finding {
            instance: None,
            id: FindingId::new(T0_MS + i * 1000, u128::from(i)),
            kind: if i.is_multiple_of(2) {
                FindingKind::UnusualClient
            } else {
                FindingKind::Probing
            },
            severity: Severity::Low,
            confidence: 0.5,
            client: FindingClient {
                subject: Some(format!("user{i}").into()),
                ..FindingClient::default()
            },
            endpoint: None,
            window_start_ms: T0_MS,
            window_end_ms: T0_MS + i * 1000,
            summary: "behaves unlike other clients".into(),
            evidence: serde_json::json!({"score": 3.5})
                .as_object()
                .unwrap()
                .clone(),
            request: None,
        })
        .collect();
    store.insert_findings(&findings).unwrap();
    let exporter = Exporter {
        segments: None,
        window: None,
        boot: 1,
        store: Some(store),
    };
    let file = dir.path().join("findings.parquet");
    let n = exporter
        .export(
            &ExportQuery::Findings {
                since_ms: T0_MS,
                until_ms: T0_MS + 40_000,
                kinds: vec![FindingKind::UnusualClient],
            },
            std::fs::File::create(&file).unwrap(),
        )
        .unwrap();
    assert_eq!(n, 20);
    let (rows, cols) = duckdb(&file);
    assert_eq!(rows, 20);
    assert_eq!(type_of(&cols, "ts"), "TIMESTAMP WITH TIME ZONE");
    assert_eq!(type_of(&cols, "confidence"), "FLOAT");
    assert_eq!(type_of(&cols, "kind"), "VARCHAR");
    assert_eq!(
        duck_query(
            &file,
            "select min(evidence), count(distinct kind), min(ts) = to_timestamp(1800000000) from FILE"
        ),
        "[('{\"score\":3.5}', 1, True)]"
    );
}
