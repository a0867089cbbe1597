//! Tokenizer detectors: checks that parse the input instead of pattern-matching
//! it, where regexes are weak. Today libinjection's SQLi and XSS analysers (the
//! pure-Rust `libinjectionrs` port: no unsafe, no C toolchain, passes the C
//! library's test vectors).
//!
//! Must not allocate per call beyond what the detector itself does, and must not
//! let a detector's panic take down a proxy worker.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::str::FromStr;

/// A named detector a rule can use instead of a regex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detector {
    /// libinjection's SQL tokenizer and fingerprint set.
    Sqli,
    /// libinjection's HTML5 tokenizer and attribute/tag blacklist.
    Xss,
}

impl FromStr for Detector {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "sqli" => Ok(Detector::Sqli),
            "xss" => Ok(Detector::Xss),
            _ => Err(()),
        }
    }
}

impl Detector {
    /// Whether the detector finds an attack in `input`.
    ///
    /// The port indexes slices; a panic there (a bug in the port) is caught and
    /// counted as no detection, so a hostile input cannot kill a worker thread.
    pub(crate) fn detect(self, input: &[u8]) -> bool {
        let run = || match self {
            Detector::Sqli => libinjectionrs::detect_sqli(input).is_injection(),
            Detector::Xss => libinjectionrs::detect_xss(input).is_injection(),
        };
        catch_unwind(AssertUnwindSafe(run)).unwrap_or(false)
    }
}
