//! Target `sig_normalize`: the signature engine's normaliser (base form: bounded
//! percent-decoding, entities, escapes, overlong UTF-8, case, whitespace and
//! comments; and the shell form) on arbitrary bytes. The first byte picks the
//! flags (`+` as space, path), the rest is the part.
//!
//! Asserts what the engine relies on: the byte set the prefilter skips rules
//! by is exactly the bytes of the base form (a wrong set is a missed rule); the
//! shell form only drops bytes; decoding never grows a part; and a decoded
//! form is folded and compacted as its doc says.

use palisade_signatures::normal_forms;

pub fn run(data: &[u8]) {
    let Some((&flags, raw)) = data.split_first() else {
        return;
    };
    let (plus_space, path) = (flags & 1 != 0, flags & 2 != 0);
    let f = normal_forms(raw, plus_space, path);
    let lower = f.base.to_ascii_lowercase();
    let mut present = [false; 256];
    for &b in &lower {
        present[usize::from(b)] = true;
    }
    let expected: Vec<u8> = (0..=255u8).filter(|b| present[usize::from(*b)]).collect();
    assert_eq!(f.bytes, expected, "the byte set is not the base form's");
    assert!(
        f.base.len() <= raw.len(),
        "the base form grew: {} bytes from {}",
        f.base.len(),
        raw.len()
    );
    if f.plain {
        assert_eq!(f.base, raw, "a plain part is its own base form");
    } else {
        for w in f.base.windows(2) {
            assert!(
                w != b"  " && w != b"\n\n" && w != b" \n",
                "uncompacted: {w:?}"
            );
            assert!(!(path && w == b"//"), "a path keeps a run of slashes");
        }
        for &b in &f.base {
            assert!(
                !b.is_ascii_uppercase() && !matches!(b, 0 | b'\t' | b'\r' | 0x0b | 0x0c),
                "byte {b:#04x} survived normalisation"
            );
            assert!(!(path && b == b'\\'), "a path keeps a backslash");
        }
    }
    if let Some(shell) = &f.shell {
        assert!(shell.len() <= f.base.len(), "the shell form grew");
        for b in shell.to_ascii_lowercase() {
            assert!(
                present[usize::from(b)],
                "the shell form has byte {b:#04x} the base form lacks"
            );
        }
    }
}
