//! Tokenizer detectors: checks that parse the input instead of pattern-matching
//! it, where regexes are weak. Today libinjection's SQLi and XSS analysers (the
//! pure-Rust `libinjectionrs` port: no unsafe, no C toolchain, passes the C
//! library's test vectors).
//!
//! Must not allocate per call beyond what the detector itself does, and must not
//! let a detector's panic take down a proxy worker.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::str::FromStr;

use crate::request::Request;

/// A named detector a rule can use instead of a regex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detector {
    /// libinjection's SQL tokenizer and fingerprint set.
    Sqli,
    /// libinjection's HTML5 tokenizer and attribute/tag blacklist.
    Xss,
    /// A URL whose host is the request's own host with more labels after it
    /// (`example.com.evil.com` sent to `example.com`): the name that passes an
    /// allow-list checking only that a URL starts with the trusted host, used
    /// for SSRF, open redirects and remote includes. Reads the request's host,
    /// so only rules on values that are never remembered as clean may use it
    /// (see `rules::HOST_DETECTOR_TARGETS`).
    OwnHostLookalike,
}

impl FromStr for Detector {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "sqli" => Ok(Detector::Sqli),
            "xss" => Ok(Detector::Xss),
            "own_host_lookalike" => Ok(Detector::OwnHostLookalike),
            _ => Err(()),
        }
    }
}

impl Detector {
    /// Whether the detector finds an attack in `input`.
    ///
    /// The port indexes slices; a panic there (a bug in the port) is caught and
    /// counted as no detection, so a hostile input cannot kill a worker thread.
    /// `req` is the request `input` is a part of; only the host detector
    /// reads it, so other requests never look up their host.
    pub(crate) fn detect(self, input: &[u8], req: &Request<'_>) -> bool {
        let run = || match self {
            Detector::Sqli => libinjectionrs::detect_sqli(input).is_injection(),
            Detector::Xss => libinjectionrs::detect_xss(input).is_injection(),
            Detector::OwnHostLookalike => {
                req.own_host().is_some_and(|h| own_host_lookalike(input, h))
            }
        };
        catch_unwind(AssertUnwindSafe(run)).unwrap_or(false)
    }
}

/// Whether a URL in `input` has a host that is `own` (the request's host,
/// port dropped) followed by a dot and at least two more labels. One more
/// label is left alone (`example.com.au` may well be the same company), and
/// so are two whose first is short and second two letters (`example.com.co.uk`).
/// An own host of one label (`orders`, a service called by its name inside a
/// cluster) is left alone too: `orders.partner.com` is no disguise of it.
fn own_host_lookalike(input: &[u8], own: &[u8]) -> bool {
    let own = host_only(own);
    if own.first() == Some(&b'[') || memchr::memchr(b'.', own).is_none() {
        return false;
    }
    memchr::memmem::find_iter(input, b"://").any(|at| {
        let rest = &input[at + 3..];
        let rest = &rest[rest
            .iter()
            .take_while(|&&b| b == b'/' || b == b'\\')
            .count()..];
        let end = rest
            .iter()
            .position(|&b| matches!(b, b'/' | b'\\' | b'?' | b'#') || b.is_ascii_whitespace())
            .unwrap_or(rest.len());
        let authority = &rest[..end];
        let host = match memchr::memrchr(b'@', authority) {
            Some(at) => &authority[at + 1..],
            None => authority,
        };
        let host = host_only(host);
        let Some(tail) = host
            .get(..own.len())
            .filter(|head| head.eq_ignore_ascii_case(own))
            .and_then(|_| host[own.len()..].strip_prefix(b"."))
        else {
            return false;
        };
        if tail.split(|&b| b == b'.').any(<[u8]>::is_empty) {
            return false;
        }
        let mut labels = tail.split(|&b| b == b'.');
        match (labels.next(), labels.next(), labels.next()) {
            (_, None, _) => false,
            (Some(first), Some(second), None) => !(first.len() <= 3 && second.len() == 2),
            _ => true,
        }
    })
}

/// A host without its port and trailing dot.
fn host_only(host: &[u8]) -> &[u8] {
    let host = match memchr::memchr(b':', host) {
        Some(colon) if host.first() != Some(&b'[') => &host[..colon],
        _ => host,
    };
    host.strip_suffix(b".").unwrap_or(host)
}
