//! The engine against the corpora (a copy of `../shared/corpus` in
//! `tests/corpus/`, so CI in a fresh clone has them):
//! per-class detection over the CRS regression attack tests and the false
//! positive rate over benign sentences must not fall behind the figures the
//! bundled rules reached (minus a small margin), so a rule change that loses
//! detection or adds false positives fails CI.
//!
//! Figures when these floors were set (all tests; even / odd halves;
//! benign): sqli 92.3% (93.8 / 91.0), xss 91.3% (88.7 / 94.1), lfi 97.0%
//! (97.8 / 95.0), rce 90.2% (99.4 / 82.3), rfi 91.7% (100 / 88.0), php 93.8%
//! (96.3 / 90.2), java 99.6% (99.8 / 99.3), generic 95.3% (98.9 / 83.3); FP
//! 0.10%.

use std::path::PathBuf;

use palisade_signatures::corpus::{self, Split};
use palisade_signatures::{Engine, EngineOptions};

fn corpus_dir() -> PathBuf {
    // Read at run time (cargo sets it for tests): a test binary reused from a
    // build cache shared by two checkouts must look in this one.
    let dir = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    PathBuf::from(dir).join("tests/corpus")
}

/// Floors per class: the reached rate minus about two points, and never
/// below the 90% every class must reach.
const FLOORS: &[(&str, f64)] = &[
    ("sqli", 0.90),
    ("xss", 0.90),
    ("lfi", 0.95),
    ("rce", 0.90),
    ("rfi", 0.90),
    ("php", 0.91),
    ("java", 0.97),
    ("generic", 0.93),
];

/// The reached false-positive rate (0.10%) plus a margin.
const FP_CEILING: f64 = 0.002;

#[test]
fn detection_per_class_stays_at_its_floor() -> anyhow::Result<()> {
    let path = corpus_dir().join("crs-regression.jsonl");
    let tests = corpus::load_crs(&path)?;
    let engine = Engine::bundled(EngineOptions::default())?;
    let report = corpus::crs_report(&engine, &tests, Split::All);
    println!("{report}");
    for &(class, floor) in FLOORS {
        let row = report
            .classes
            .iter()
            .find(|r| r.class == class)
            .ok_or_else(|| anyhow::anyhow!("class {class} missing from the corpus"))?;
        assert!(
            row.rate >= floor,
            "{class}: detection {:.1}% fell below {:.1}%",
            row.rate * 100.0,
            floor * 100.0
        );
    }
    Ok(())
}

#[test]
fn false_positives_stay_under_the_ceiling() -> anyhow::Result<()> {
    let lines = corpus::load_benign(&corpus_dir().join("benign-sentences.txt"))?;
    assert!(
        lines.len() > 14_000,
        "the benign corpus shrank: {}",
        lines.len()
    );
    let engine = Engine::bundled(EngineOptions::default())?;
    let (report, blocked) = corpus::benign_report(&engine, &lines);
    println!("{report}");
    assert!(
        report.fp_rate <= FP_CEILING,
        "false positives {:.3}% above {:.3}%; first: {:?}",
        report.fp_rate * 100.0,
        FP_CEILING * 100.0,
        blocked.first()
    );
    Ok(())
}
