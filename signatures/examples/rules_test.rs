//! `rules_test`: the engine against the corpora, as `palisade rules test` will
//! run it. Prints per-class detection and the false-positive rate.
//!
//! ```text
//! cargo run -p palisade-signatures --release --example rules_test -- \
//!     --corpus ../shared/corpus/crs-regression.jsonl \
//!     --benign ../shared/corpus/benign-sentences.txt [--split all|even|odd]
//!     [--paranoia N] [--rules extra.toml] [--disable RULE_ID]... [--json]
//!     [--misses CLASS] [--fps] [--dump]
//! ```
//!
//! `--misses CLASS` prints the attack tests of CLASS (in the split) that were not
//! blocked; `--fps` prints the benign lines that were; `--dump` prints every
//! test's verdict (blocked or not, and the classes hit) to compare two builds.

use std::path::PathBuf;

use anyhow::{Context, bail};
use palisade_signatures::corpus::{self, RawRequest, Split};
use palisade_signatures::{Engine, EngineOptions, Scratch};

fn main() -> anyhow::Result<()> {
    let mut corpus_path: Option<PathBuf> = None;
    let mut benign_path: Option<PathBuf> = None;
    let mut extra: Option<PathBuf> = None;
    let mut json = false;
    let mut split = Split::All;
    let mut misses: Option<String> = None;
    let mut fps = false;
    let mut dump = false;
    let mut options = EngineOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--corpus" => corpus_path = Some(value()?.into()),
            "--benign" => benign_path = Some(value()?.into()),
            "--rules" => extra = Some(value()?.into()),
            "--paranoia" => options.paranoia = value()?.parse()?,
            "--disable" => options.disabled.push(value()?),
            "--split" => {
                split = match value()?.as_str() {
                    "all" => Split::All,
                    "even" => Split::Even,
                    "odd" => Split::Odd,
                    other => bail!("--split {other}: expected all, even or odd"),
                }
            }
            "--misses" => misses = Some(value()?),
            "--fps" => fps = true,
            "--dump" => dump = true,
            "--json" => json = true,
            other => bail!("unknown argument {other}"),
        }
    }
    let engine = match &extra {
        Some(p) => Engine::with_rule_files(&[p.as_path()], options)?,
        None => Engine::bundled(options)?,
    };
    let mut out = serde_json::Map::new();
    if let Some(path) = &corpus_path {
        let tests = corpus::load_crs(path)?;
        let report = corpus::crs_report(&engine, &tests, split);
        if let Some(class) = &misses {
            let mut scratch = Scratch::default();
            for t in tests
                .iter()
                .filter(|t| t.is_request_attack() && t.in_split(split) && &t.class == class)
            {
                if !t.detected(&engine, &mut scratch) {
                    let v = t.verdicts(&engine, &mut scratch);
                    let raw = RawRequest::parse(&t.stages[0]);
                    println!(
                        "MISS {} #{} score {} {} {}?{} | body {}",
                        t.rule_id,
                        t.test_id,
                        v.first().map_or(0, |v| v.score),
                        raw.method,
                        String::from_utf8_lossy(&raw.path),
                        String::from_utf8_lossy(raw.query.as_deref().unwrap_or(b"")),
                        String::from_utf8_lossy(&raw.body[..raw.body.len().min(200)])
                            .replace('\n', "\\n")
                    );
                }
            }
        }
        if dump {
            let mut scratch = Scratch::default();
            for t in tests.iter().filter(|t| t.in_split(split)) {
                for (i, v) in t.verdicts(&engine, &mut scratch).iter().enumerate() {
                    let mut classes: Vec<&str> = v.hits.iter().map(|h| h.class.as_str()).collect();
                    classes.sort_unstable();
                    classes.dedup();
                    println!(
                        "DUMP {}#{} stage {i} {} {} {:?}",
                        t.rule_id, t.test_id, t.label, v.blocked, classes
                    );
                }
            }
        }
        if json {
            out.insert("corpus".into(), serde_json::to_value(&report)?);
        } else {
            println!("{report}");
        }
    }
    if let Some(path) = &benign_path {
        let lines = corpus::load_benign(path)?;
        let (report, blocked) = corpus::benign_report(&engine, &lines);
        if fps || dump {
            for fp in &blocked {
                println!("FP {:?} {}", fp.rules, fp.line);
            }
        }
        if json {
            out.insert("benign".into(), serde_json::to_value(&report)?);
        } else {
            println!("{report}");
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(())
}
