//! The bodies of Palisade's fuzz targets: one module per target, each with a
//! `run(data)` that feeds the fuzzer's bytes to a parser or normaliser that sees
//! attacker bytes in production, and asserts what must hold for any input
//! (beyond "does not panic"). `fuzz_targets/<name>.rs` calls `<name>::run`.
//!
//! The workspace compiles these same files on stable (`tests/tests/fuzz_seeds.rs`
//! includes this file by path and runs every body over the seeds in `seeds/`),
//! so they keep building against the crates they fuzz, and may only refer to
//! each other by relative paths (`super::`), never `crate::`.
//!
//! Must not copy production logic: every body calls the crates' own entry
//! points. Decoders written here (CEF, RFC 5424) are deliberately strict oracles.

pub mod body_decode;
pub mod body_inspect;
pub mod config;
pub mod jwt;
pub mod openapi;
pub mod path_template;
pub mod query_cookie;
pub mod siem_cef;
pub mod siem_syslog;
pub mod sig_engine;
pub mod sig_normalize;

mod cef_decode;
mod siem_record;
mod syslog_decode;

use std::sync::LazyLock;

use palisade_signatures::{Engine, EngineOptions, Request, Scratch, Verdict};

/// A target's body.
pub type Body = fn(&[u8]);

/// Every target by name, with its body: for the seed test and the scripts.
pub const TARGETS: [(&str, Body); 11] = [
    ("sig_normalize", sig_normalize::run),
    ("sig_engine", sig_engine::run),
    ("query_cookie", query_cookie::run),
    ("body_inspect", body_inspect::run),
    ("body_decode", body_decode::run),
    ("path_template", path_template::run),
    ("jwt", jwt::run),
    ("openapi", openapi::run),
    ("siem_cef", siem_cef::run),
    ("siem_syslog", siem_syslog::run),
    ("config", config::run),
];

/// Builds the signature engines before the first input: compiling every rule
/// takes seconds under AddressSanitizer, which libFuzzer's per-input timeout
/// would otherwise count against whichever input came first.
pub fn init_engines() {
    LazyLock::force(&DEFAULT_ENGINE);
    LazyLock::force(&WIDE_ENGINE);
}

/// The bundled rules as the proxy runs them by default.
static DEFAULT_ENGINE: LazyLock<Engine> = LazyLock::new(|| {
    // INVARIANT: the bundled rules load (the signatures crate's tests prove it).
    Engine::bundled(EngineOptions::default()).expect("the bundled rules load")
});

/// Every bundled rule (paranoia 4), a low threshold, and a small body cap, so
/// that truncation and every rule's check are reached.
static WIDE_ENGINE: LazyLock<Engine> = LazyLock::new(|| {
    let options = EngineOptions {
        paranoia: 4,
        threshold: 1,
        disabled: Vec::new(),
        body_bytes: 256,
    };
    // INVARIANT: as above, at the highest paranoia level.
    Engine::bundled(options).expect("the bundled rules load at paranoia 4")
});

/// Inspects `req` with both engines, each twice on one scratch (the second
/// time with its memo of clean values primed by the first) and once on a fresh
/// one, and checks each verdict is consistent and the same every time: a memo
/// that changed a verdict would let a primed request slip through.
fn inspect_checked(req: &Request<'_>) {
    for (engine, threshold) in [(&*DEFAULT_ENGINE, 5), (&*WIDE_ENGINE, 1)] {
        let mut scratch = Scratch::default();
        let first = engine.inspect(req, &mut scratch);
        let again = engine.inspect(req, &mut scratch);
        let fresh = engine.inspect(req, &mut Scratch::default());
        check_verdict(&first, threshold);
        assert_eq!(first, again, "a primed scratch changed the verdict");
        assert_eq!(first, fresh, "a fresh scratch changed the verdict");
    }
}

fn check_verdict(v: &Verdict, threshold: u32) {
    let sum: u32 = v.hits.iter().map(|h| h.severity.score()).sum();
    assert_eq!(v.score, sum, "the score is the sum of the hits' severities");
    assert_eq!(v.blocked, v.score >= threshold);
    for (i, h) in v.hits.iter().enumerate() {
        assert!(
            v.hits[..i].iter().all(|o| o.rule_id != h.rule_id),
            "rule {} hit twice",
            h.rule_id
        );
    }
}
