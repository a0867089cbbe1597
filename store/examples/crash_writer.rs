//! Owns the writer side of the crash test (tests/store/crash.rs): opens the store
//! at the path given as its argument and writes blocks and findings until killed,
//! printing each record's id on stdout only after its commit has returned, so that
//! every printed line is a record the store promised to keep.
//!
//! Must not print anything before the commit that stores it, and must not stop by
//! itself: the test kills it with SIGKILL at a moment of its choosing, then may run
//! it again on the same file.
//!
//! Output, one record per line: `block <id>` or `finding <uuid>`.

use std::error::Error;
use std::io::Write;
use std::path::PathBuf;

use palisade_models::{
    BlockOrigin, BlockScope, Finding, FindingClient, FindingId, FindingKind, NewBlock, Severity,
};
use palisade_store::{AuditInfo, Store};

/// Findings per transaction, so that batches are exercised as well as single writes.
const BATCH: u64 = 3;

fn main() -> Result<(), Box<dyn Error>> {
    let path: PathBuf = std::env::args_os()
        .nth(1)
        .ok_or("usage: crash_writer <store file>")?
        .into();
    let store = Store::open(&path)?;
    let mut out = std::io::stdout().lock();
    // A fixed timeline: the test needs distinct ids, not the real time.
    let base_ms = 1_700_000_000_000u64;
    // After an earlier kill, go on past what that run stored: findings are written in
    // whole batches, so the count says how far it got.
    let start = store.count_findings()? / BATCH;
    for i in start.. {
        let block = store.insert_block(
            NewBlock {
                scope: BlockScope::Subject(format!("crash-{i}").into()),
                reason: "crash test".into(),
                origin: BlockOrigin::Analytics,
                created_ms: base_ms + i,
                expires_ms: None,
                finding: None,
            },
            &AuditInfo {
                actor: "analytics".into(),
                reason: "crash test".into(),
                at_ms: base_ms + i,
            },
        )?;
        writeln!(out, "block {}", block.id)?;
        out.flush()?;

        let findings: Vec<Finding> = (0..BATCH)
            .map(|n| finding(FindingId::new(base_ms + i, u128::from(i * BATCH + n))))
            .collect();
        store.insert_findings(&findings)?;
        for f in &findings {
            writeln!(out, "finding {}", f.id)?;
        }
        out.flush()?;
    }
    Ok(())
}

fn finding(id: FindingId) -> Finding {
    Finding {
        instance: None,
        id,
        kind: FindingKind::Scraping,
        severity: Severity::Medium,
        confidence: 0.5,
        client: FindingClient {
            subject: Some("crash".into()),
            ..FindingClient::default()
        },
        endpoint: Some("GET /crash".into()),
        window_start_ms: id.unix_ms(),
        window_end_ms: id.unix_ms(),
        summary: "crash test".into(),
        evidence: serde_json::Map::new(),
        request: None,
    }
}
