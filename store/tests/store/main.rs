//! Tests of the store through its public API, on real files in temporary
//! directories; one binary, one module per kind of record, plus opening (locks,
//! corruption, schema) and the kill -9 test.

mod blocks;
mod crash;
mod findings;
mod inventory;
mod open;
mod outbox;
mod quota;
mod retention;

use std::net::IpAddr;

use palisade_models::{
    BlockOrigin, BlockScope, Finding, FindingClient, FindingId, FindingKind, NewBlock, Severity,
};
use palisade_store::{AuditInfo, Store};
use tempfile::TempDir;

/// A store in a fresh directory, removed when the `TempDir` drops.
pub fn temp_store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("palisade.redb")).expect("open store");
    (dir, store)
}

pub fn new_block(subject: &str, created_ms: u64, expires_ms: Option<u64>) -> NewBlock {
    NewBlock {
        scope: BlockScope::Subject(subject.into()),
        reason: "test".into(),
        origin: BlockOrigin::Manual,
        created_ms,
        expires_ms,
        finding: None,
    }
}

pub fn admin(at_ms: u64) -> AuditInfo {
    AuditInfo {
        actor: "admin:t1".into(),
        reason: "operator request".into(),
        at_ms,
    }
}

pub fn finding(
    id: FindingId,
    kind: FindingKind,
    severity: Severity,
    ip: Option<IpAddr>,
    subject: Option<&str>,
    endpoint: Option<&str>,
) -> Finding {
    let mut evidence = serde_json::Map::new();
    evidence.insert("count".into(), serde_json::Value::from(42));
    Finding {
        instance: None,
        id,
        kind,
        severity,
        confidence: 0.75,
        client: FindingClient {
            ip,
            subject: subject.map(Into::into),
            api_key_id: None,
        },
        endpoint: endpoint.map(Into::into),
        window_start_ms: id.unix_ms().saturating_sub(60_000),
        window_end_ms: id.unix_ms(),
        summary: "something was seen".into(),
        evidence,
        request: None,
    }
}
