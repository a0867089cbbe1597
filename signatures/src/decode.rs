//! Hidden encodings a value may carry whole: a value that is base64 of text
//! (`eval=d2hpbGUodHJ1ZSk7Cg==`) is inspected decoded as well, since
//! applications that decode it would act on the text.
//!
//! Must stay cheap on ordinary values (a charset scan rejects nearly all of
//! them before any decoding) and must not hand over binary: only decodings
//! that read as text count.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Shortest value tried: shorter base64 carries too little to matter.
const MIN_LEN: usize = 12;

/// Longest value tried, in bytes.
const MAX_LEN: usize = 8 * 1024;

const CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, CONFIG);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, CONFIG);

const UPPER: u8 = 1;
const LOWER: u8 = 2;
const URL_SAFE_BYTE: u8 = 4;
/// Not a base64 byte.
const OTHER: u8 = 8;

/// Each byte's class for `base64_text`.
const CHARSET: [u8; 256] = {
    let mut t = [OTHER; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = match b as u8 {
            b'A'..=b'Z' => UPPER,
            b'a'..=b'z' => LOWER,
            b'-' | b'_' => URL_SAFE_BYTE,
            b'0'..=b'9' | b'+' | b'/' | b'=' => 0,
            _ => OTHER,
        };
        b += 1;
    }
    t
};

/// When `raw` (possibly percent-encoded) is base64 of text, writes the text
/// into `out` and returns true. `tmp` holds the percent-decoded form.
pub(crate) fn base64_text(raw: &[u8], tmp: &mut Vec<u8>, out: &mut Vec<u8>) -> bool {
    if !(MIN_LEN..=MAX_LEN).contains(&raw.len()) {
        return false;
    }
    let src: &[u8] = if memchr::memchr(b'%', raw).is_some() {
        tmp.clear();
        let mut i = 0;
        while i < raw.len() {
            let hex = raw
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match (raw[i], hex) {
                (b'%', Some(v)) => {
                    tmp.push(v);
                    i += 3;
                }
                (b, _) => {
                    tmp.push(b);
                    i += 1;
                }
            }
        }
        tmp
    } else {
        raw
    };
    // Base64 of text mixes upper and lower case; hex digests, ids and words
    // do not, and are rejected here without decoding. The classes are ORed
    // from a table, a chunk at a time: branching per byte on letters and
    // digits mispredicts on nearly every byte of a hex digest.
    let mut seen = 0u8;
    for chunk in src.chunks(16) {
        for &b in chunk {
            seen |= CHARSET[usize::from(b)];
        }
        if seen & OTHER != 0 {
            return false;
        }
    }
    if seen & (UPPER | LOWER) != UPPER | LOWER {
        return false;
    }
    let url_safe = seen & URL_SAFE_BYTE != 0;
    let body = src
        .strip_suffix(b"==")
        .or_else(|| src.strip_suffix(b"="))
        .unwrap_or(src);
    out.clear();
    let engine = if url_safe { &URL_SAFE } else { &STANDARD };
    if engine.decode_vec(body, out).is_err() || out.len() < 6 {
        return false;
    }
    let text = out
        .iter()
        .filter(|&&b| matches!(b, b' '..=b'~' | b'\t' | b'\n' | b'\r'))
        .count();
    text * 20 >= out.len() * 19
}

#[cfg(test)]
mod tests {
    use super::base64_text;

    fn decoded(raw: &str) -> Option<String> {
        let (mut tmp, mut out) = (Vec::new(), Vec::new());
        base64_text(raw.as_bytes(), &mut tmp, &mut out)
            .then(|| String::from_utf8_lossy(&out).into_owned())
    }

    #[test]
    fn text_in_base64_is_decoded() {
        assert_eq!(
            decoded("d2hpbGUodHJ1ZSk7Cg==").as_deref(),
            Some("while(true);\n")
        );
        assert_eq!(
            decoded("d2hpbGUodHJ1ZSk7Cg%3D%3D").as_deref(),
            Some("while(true);\n")
        );
        assert_eq!(
            decoded("PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg").as_deref(),
            Some("<script>alert(1)</script>")
        );
    }

    #[test]
    fn ids_digests_words_and_binary_are_not() {
        assert_eq!(decoded("3f9a1c2e7b4d4e8a9c1f0a2b3c4d5e6f"), None);
        assert_eq!(decoded("HelloWorldThisIsAName"), None);
        assert_eq!(
            decoded("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ"),
            None
        );
        assert_eq!(decoded("short"), None);
        assert_eq!(decoded("not base64 at all, has spaces"), None);
    }
}
