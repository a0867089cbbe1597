//! The byte needs worked out from rule regexes (`requires`) must never skip a
//! rule that would have matched: over every request of the CRS corpus copy and
//! every benign line, the engine with needs gives exactly the verdicts of the
//! same engine running every candidate regex.

use std::path::PathBuf;

use crate::corpus::{self, RawRequest};
use crate::{Engine, EngineOptions, Scratch};

fn corpus_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
    )
    .join("tests/corpus")
}

#[test]
fn needs_change_no_verdict() {
    let with = Engine::bundled(EngineOptions::default()).unwrap();
    let without = Engine::bundled(EngineOptions::default())
        .unwrap()
        .without_needs();
    let (mut s1, mut s2) = (Scratch::default(), Scratch::default());
    let tests = corpus::load_crs(&corpus_dir().join("crs-regression.jsonl")).unwrap();
    let mut blocked = 0;
    for t in &tests {
        for stage in &t.stages {
            let raw = RawRequest::parse(stage);
            let a = raw.inspect(&with, &mut s1);
            let b = raw.inspect(&without, &mut s2);
            assert_eq!(a, b, "test {}#{}", t.rule_id, t.test_id);
            blocked += usize::from(a.blocked);
        }
    }
    assert!(
        blocked > 3000,
        "the corpus was not inspected: {blocked} blocked"
    );
    let lines = corpus::load_benign(&corpus_dir().join("benign-sentences.txt")).unwrap();
    for line in &lines {
        assert_eq!(
            corpus::benign_verdicts(&with, line, &mut s1),
            corpus::benign_verdicts(&without, line, &mut s2),
            "{line}"
        );
    }
}
