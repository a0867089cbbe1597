//! Secret markers for the leak audits: unique random values a test puts where a
//! client puts secrets, and a search for each in every form a leak could take:
//! raw (any letter case), percent-encoded (every byte, upper- or lowercase
//! hex), base64 (standard and URL-safe, at each of the three byte alignments a
//! marker can have inside a longer encoded value) and hex (lower and upper).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use memchr::memmem;

/// One secret a test sends, and the part of it that must never be seen.
#[derive(Debug, Clone)]
pub struct Marker {
    /// Where the test put it (for the failure message).
    pub name: String,
    /// What the client sends.
    pub value: String,
    /// The unique part searched for (the whole value, or for a JWT its signature).
    pub core: String,
}

impl Marker {
    /// A fresh marker: `S3cr` and 24 random letters and digits, then `+/~`, so
    /// its percent- and form-encodings differ from it.
    pub fn new(name: &str) -> Marker {
        let core = format!("S3cr{}", random_alnum(24));
        Marker {
            name: name.into(),
            value: format!("{core}+/~"),
            core,
        }
    }

    /// A marker whose value is given (a JWT) and whose `core` is searched.
    pub fn with_core(name: &str, value: &str, core: &str) -> Marker {
        Marker {
            name: name.into(),
            value: value.into(),
            core: core.into(),
        }
    }

    /// Every form searched for, with its name.
    pub fn forms(&self) -> Vec<(String, Vec<u8>, bool)> {
        let core = self.core.as_bytes();
        // (name, bytes, compare ignoring ASCII case)
        let mut out: Vec<(String, Vec<u8>, bool)> = vec![
            ("raw".into(), core.to_vec(), true),
            (
                "percent".into(),
                percent_all(core, true).into_bytes(),
                false,
            ),
            (
                "percent-lower".into(),
                percent_all(core, false).into_bytes(),
                false,
            ),
            ("hex".into(), hex(core, false).into_bytes(), false),
            ("HEX".into(), hex(core, true).into_bytes(), false),
        ];
        for (alphabet, engine) in [("base64", &STANDARD), ("base64url", &URL_SAFE)] {
            for align in 0..3 {
                out.push((
                    format!("{alphabet}@{align}"),
                    b64_inner(engine, core, align),
                    false,
                ));
            }
        }
        out
    }
}

/// The leaks of `markers` in `hay`, as "marker (form) in `place`: …context…".
pub fn find_leaks(hay: &[u8], place: &str, markers: &[Marker]) -> Vec<String> {
    let lower = hay.to_ascii_lowercase();
    let mut out = Vec::new();
    for m in markers {
        for (form, needle, fold) in m.forms() {
            let (h, n) = if fold {
                (&lower[..], needle.to_ascii_lowercase())
            } else {
                (hay, needle)
            };
            if let Some(at) = memmem::find(h, &n) {
                let from = at.saturating_sub(80);
                let to = (at + n.len() + 80).min(hay.len());
                out.push(format!(
                    "{} ({form}) in {place}: …{}…",
                    m.name,
                    String::from_utf8_lossy(&hay[from..to])
                ));
            }
        }
    }
    out
}

/// application/x-www-form-urlencoded (and query) encoding of a value.
pub fn form_encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `n` random ASCII letters and digits.
pub fn random_alnum(n: usize) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut bytes).expect("random bytes");
    bytes
        .iter()
        .map(|b| ALNUM[usize::from(*b) % ALNUM.len()] as char)
        .collect()
}

/// Every byte as %XX.
fn percent_all(b: &[u8], upper: bool) -> String {
    b.iter()
        .map(|c| {
            if upper {
                format!("%{c:02X}")
            } else {
                format!("%{c:02x}")
            }
        })
        .collect()
}

fn hex(b: &[u8], upper: bool) -> String {
    b.iter()
        .map(|c| {
            if upper {
                format!("{c:02X}")
            } else {
                format!("{c:02x}")
            }
        })
        .collect()
}

/// The part of the base64 of `core`, placed `align` bytes into a 3-byte group,
/// that does not depend on the bytes around it: whole 4-character groups made
/// only of `core`'s bytes.
fn b64_inner(engine: &base64::engine::GeneralPurpose, core: &[u8], align: usize) -> Vec<u8> {
    let skip = (3 - align) % 3; // bytes that complete the group `core` starts in
    let body = &core[skip..];
    let whole = body.len() / 3 * 3;
    engine.encode(&body[..whole]).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_is_found_inside_a_larger_value() {
        let m = Marker::new("t");
        for prefix in ["", "a", "ab", "user:"] {
            let mut v = prefix.as_bytes().to_vec();
            v.extend_from_slice(m.value.as_bytes());
            v.extend_from_slice(b"tail");
            for (enc, hay) in [
                ("std", STANDARD.encode(&v)),
                ("url", URL_SAFE.encode(&v)),
                ("raw-upper", String::from_utf8_lossy(&v).to_uppercase()),
                ("hex", hex(&v, false)),
                ("percent", percent_all(&v, true)),
            ] {
                assert!(
                    !find_leaks(hay.as_bytes(), enc, std::slice::from_ref(&m)).is_empty(),
                    "{enc} with prefix {prefix:?}"
                );
            }
        }
        assert!(find_leaks(b"nothing here", "x", &[m]).is_empty());
    }
}
