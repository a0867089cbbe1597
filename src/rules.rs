//! Owns `palisade rules test`: the signature engine, configured as a config file
//! (or the defaults) would configure it, replayed over a CRS-format corpus of raw
//! requests (per-class detection) and over benign lines (false positives).
//!
//! Must not start anything: it reads files and prints.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use palisade_models::Config;
use palisade_signatures::corpus::{self, Split};
use palisade_signatures::{Engine, EngineOptions};

/// What `rules test` was asked to do.
#[derive(Debug)]
pub(crate) struct RulesTest {
    pub(crate) corpus: Option<PathBuf>,
    pub(crate) benign: Option<PathBuf>,
    pub(crate) config: Option<PathBuf>,
    pub(crate) json: bool,
}

/// Runs it; exit 2 for unusable input, 1 for an engine that does not build.
pub(crate) fn test(args: &RulesTest) -> ExitCode {
    if args.corpus.is_none() && args.benign.is_none() {
        eprintln!("rules test: give --corpus FILE.jsonl and/or --benign FILE.txt");
        return ExitCode::from(2);
    }
    let engine = match engine(args.config.as_deref()) {
        Ok(e) => e,
        Err(message) => {
            eprintln!("rules test: {message}");
            return ExitCode::from(2);
        }
    };
    let mut out = serde_json::Map::new();
    if let Some(path) = &args.corpus {
        let tests = match corpus::load_crs(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("rules test: {}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        let report = corpus::crs_report(&engine, &tests, Split::All);
        if args.json {
            out.insert(
                "corpus".into(),
                serde_json::to_value(&report).unwrap_or_default(),
            );
        } else {
            println!("{report}");
        }
    }
    if let Some(path) = &args.benign {
        let lines = match corpus::load_benign(path) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("rules test: {}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        let (report, _) = corpus::benign_report(&engine, &lines);
        if args.json {
            out.insert(
                "benign".into(),
                serde_json::to_value(&report).unwrap_or_default(),
            );
        } else {
            println!("{report}");
        }
    }
    if args.json {
        println!("{}", serde_json::Value::Object(out));
    }
    ExitCode::SUCCESS
}

/// The engine as `[signatures]` of `config` sets it up, or with the defaults.
fn engine(config: Option<&Path>) -> Result<Engine, String> {
    let Some(path) = config else {
        return Engine::bundled(EngineOptions::default()).map_err(|e| e.to_string());
    };
    let config = Config::load(path).map_err(|e| format!("{}: {e}", path.display()))?;
    palisade_proxy::build_signature_engine(&config).map_err(|e| e.to_string())
}
