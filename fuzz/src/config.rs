//! Target `config`: arbitrary text through the config loader (TOML parse,
//! typed deserialisation with `deny_unknown_fields`, then every section's
//! validation), as `palisade check` and start-up run it on an operator's file.
//!
//! Asserts the loader returns a config or a clear error, never a panic: every
//! problem names what is wrong and how to fix it, and the error prints.

use palisade_models::Config;

pub fn run(data: &[u8]) {
    // The loader reads the file as UTF-8 text; other bytes never reach it.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text) {
        // Accepted: every section validated it.
        Ok(_) => {}
        Err(e) => {
            assert!(!e.problems.is_empty(), "an error without a problem");
            for p in &e.problems {
                assert!(!p.message.trim().is_empty(), "a problem without a message");
                assert!(!p.hint.trim().is_empty(), "{}: no hint", p.message);
            }
            assert!(e.to_string().contains(&e.problems[0].message));
        }
    }
}
