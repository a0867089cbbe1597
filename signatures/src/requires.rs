//! What every match of a rule's regex must contain, worked out from the regex
//! itself when the rule is loaded: a short list of byte sets, each of which
//! the part must share a byte with (and, from `placement`, where some of
//! them must be). A part that fails one cannot match, so the
//! regex is not run on it. `sort`, say, holds no space, `/` or `)`, so a rule
//! that needs `/x or` or `) and` at the end of a value is skipped on it
//! however its keywords matched.
//!
//! Sound by construction (a literal byte or class in a concatenation must
//! appear; an alternation needs one of its branches' needs; an optional part
//! needs nothing), and over the normalised text, which has no ASCII upper
//! case. Must not reject a part the regex could match: when unsure, it needs
//! nothing.

use regex_syntax::hir::{Class, Hir, HirKind};

use crate::byteset::ByteSet;
use crate::placement::{self, Order, Start};

/// At most this many needs per rule: the most selective ones.
const MAX_NEEDS: usize = 5;

/// A need whose bytes are this common in ordinary text (see `commonness`)
/// almost always holds, so checking it costs more than it saves.
const MAX_SCORE: u32 = 120;

/// What a part must have for a rule's regex to possibly match it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Needs {
    /// Byte sets the part must each intersect, most selective first.
    pub bytes: Vec<ByteSet>,
    /// For a regex anchored at the start: how the part may begin.
    pub start: Option<Start>,
    /// Bytes one of which must come before one of others.
    pub order: Option<Order>,
}

impl Needs {
    /// Whether a part holding the bytes `have` (or fewer: the base form's
    /// set serves its shell form) has the bytes needed.
    pub fn bytes_held(&self, have: &ByteSet) -> bool {
        self.bytes.iter().all(|n| n.intersects(have))
    }

    /// Whether `text` has the needed bytes where they are needed: dearer to
    /// check than the bytes, so checked last, just before the regex.
    #[inline]
    pub fn placed(&self, text: &[u8]) -> bool {
        self.start.as_ref().is_none_or(|s| s.allows(text))
            && self.order.as_ref().is_none_or(|o| o.holds(text))
    }

    /// Whether `text`, holding the bytes `have`, meets every need.
    #[cfg(test)]
    pub fn hold(&self, have: &ByteSet, text: &[u8]) -> bool {
        self.bytes_held(have) && self.placed(text)
    }
}

/// What every match of `pattern` (compiled case-insensitively, bytes, no
/// Unicode, as `rules::compile` does) needs. Nothing when nothing useful is
/// known (or the pattern does not parse, which `rules::compile` reports).
pub(crate) fn needs(pattern: &str) -> Needs {
    let Ok(hir) = parse(pattern) else {
        return Needs::default();
    };
    Needs {
        bytes: byte_needs(&hir),
        start: placement::start(&hir),
        order: placement::order(&hir, collect),
    }
}

fn byte_needs(hir: &Hir) -> Vec<ByteSet> {
    let mut all = collect(hir);
    all.retain(|s| score(s) <= MAX_SCORE);
    all.sort_by_key(score);
    all.dedup();
    // Ordinary text holds most letters: keep at most two letter-or-digit
    // needs, so a rarer need (a space, a parenthesis) is not crowded out.
    let mut alnum = 0;
    all.retain(|s| {
        let words = s.iter().all(|b| b.is_ascii_alphanumeric());
        alnum += usize::from(words);
        !words || alnum <= 2
    });
    all.truncate(MAX_NEEDS);
    all
}

/// Bytes a normalised part never holds: ASCII upper case (folded), NUL
/// (dropped), and tab, vertical tab, form feed and CR (folded to space and
/// newline).
fn impossible() -> ByteSet {
    ByteSet::range(b'A', b'Z').union(&ByteSet::of(b"\0\t\x0b\x0c\r"))
}

/// `collect`, for the tests of other modules.
#[cfg(test)]
pub(crate) fn tests_collect(hir: &Hir) -> Vec<ByteSet> {
    collect(hir)
}

fn collect(hir: &Hir) -> Vec<ByteSet> {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Vec::new(),
        HirKind::Literal(lit) => lit
            .0
            .iter()
            .map(|&b| {
                let mut s = ByteSet::EMPTY;
                s.insert(b);
                s.minus(&impossible())
            })
            .collect(),
        HirKind::Class(class) => vec![class_bytes(class).minus(&impossible())],
        HirKind::Repetition(rep) if rep.min == 0 => Vec::new(),
        HirKind::Repetition(rep) => collect(&rep.sub),
        HirKind::Capture(cap) => collect(&cap.sub),
        HirKind::Concat(subs) => subs.iter().flat_map(collect).collect(),
        HirKind::Alternation(subs) => {
            let branches: Vec<Vec<ByteSet>> = subs.iter().map(collect).collect();
            // One branch needs nothing: neither does the alternation.
            if branches.iter().any(Vec::is_empty) {
                return Vec::new();
            }
            alternation_needs(&branches)
        }
    }
}

/// The needs of an alternation: unions holding one need of every branch.
/// Each branch's own rarest need makes one such union. And a need that some
/// branch has is a need of the whole alternation when every branch has a need
/// inside it (`\s` in every branch of `drop\s+x|create\s+y`, where the
/// rarest needs are different letters).
fn alternation_needs(branches: &[Vec<ByteSet>]) -> Vec<ByteSet> {
    let mut rarest = ByteSet::EMPTY;
    for b in branches {
        match b.iter().min_by_key(|s| score(s)) {
            Some(n) => rarest = rarest.union(n),
            None => return Vec::new(),
        }
    }
    let mut out = vec![rarest];
    let mut shared: Vec<ByteSet> = branches.iter().flatten().copied().collect();
    shared.sort_by_key(score);
    shared.dedup();
    for n in shared.iter().take(32) {
        if branches
            .iter()
            .all(|b| b.iter().any(|s| s.minus(n).is_empty()))
        {
            out.push(*n);
        }
    }
    out
}

/// `pattern`'s syntax tree as `rules::compile` reads it: case-insensitive,
/// bytes, no Unicode.
pub(crate) fn parse(pattern: &str) -> Result<Hir, Box<regex_syntax::Error>> {
    regex_syntax::ParserBuilder::new()
        .case_insensitive(true)
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
        .map_err(Box::new)
}

/// Every byte a class can match (any byte of a non-ASCII character's UTF-8
/// form standing for the character).
pub(crate) fn class_bytes(class: &Class) -> ByteSet {
    let mut set = ByteSet::EMPTY;
    match class {
        Class::Bytes(c) => {
            for r in c.iter() {
                set = set.union(&ByteSet::range(r.start(), r.end()));
            }
        }
        Class::Unicode(c) => {
            for r in c.iter() {
                let (lo, hi) = (u32::from(r.start()), u32::from(r.end()));
                if lo < 0x80 {
                    // INVARIANT: both ends are below 0x80 after the min.
                    set = set.union(&ByteSet::range(lo as u8, hi.min(0x7f) as u8));
                }
                if hi >= 0x80 {
                    // Any UTF-8 byte of a non-ASCII character.
                    set = set.union(&ByteSet::range(0x80, 0xff));
                }
            }
        }
    }
    set
}

/// How common a byte is in ordinary request text: spaces and letters very,
/// digits and URL punctuation fairly, other punctuation rarely.
fn commonness(b: u8) -> u32 {
    match b {
        b' ' => 15,
        b'e' => 12,
        b't' | b'a' | b'o' | b'i' | b'n' | b's' | b'r' | b'h' => 8,
        b'l' | b'd' | b'c' | b'u' | b'm' | b'0'..=b'9' => 5,
        b'f' | b'p' | b'g' | b'w' | b'y' | b'b' => 4,
        b'.' | b'-' | b'/' | b',' | b':' | b'_' | b'=' => 3,
        b'v' | b'k' | 0x80..=0xff => 2,
        _ => 1,
    }
}

fn score(set: &ByteSet) -> u32 {
    if set.is_empty() {
        // Impossible to satisfy: the most selective need there is.
        return 0;
    }
    set.iter().map(commonness).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holds(pattern: &str, text: &[u8]) -> bool {
        let have = ByteSet::of(text);
        needs(pattern).bytes.iter().all(|n| n.intersects(&have))
    }

    #[test]
    fn concatenations_need_their_rare_bytes() {
        let n = needs(r"\bunion\s+select\(").bytes;
        assert!(n.iter().any(|s| *s == ByteSet::of(b"(")), "{n:?}");
        assert!(!holds(r"\bunion\s+select\(", b"union select 1"));
        assert!(holds(r"\bunion\s+select\(", b"union select(1"));
    }

    #[test]
    fn alternations_need_one_branch() {
        let p = r"(?:/[\w.-]*|\))\s+(?:and|or)\s*$";
        assert!(!holds(p, b"sort"));
        assert!(holds(p, b"/x or"));
        assert!(holds(p, b"1) and"));
        // A branch that needs nothing rare makes the alternation need nothing.
        assert!(
            needs(r"(?:'|x*)y")
                .bytes
                .iter()
                .all(|s| s.contains(b'y') || s.len() > 1)
        );
    }

    #[test]
    fn an_alternation_prefers_a_need_its_branches_share() {
        // Every branch needs whitespace; letters differ from branch to branch.
        let p = r"\bdrop\s+table\b|\bcreate\s+user\b|\btruncate\s+\w";
        assert!(!holds(p, b"-created_at"));
        assert!(holds(p, b"create user x"));
        assert!(holds(p, b"drop\ntable"));
    }

    #[test]
    fn optional_parts_and_assertions_need_nothing() {
        assert!(needs(r"^\s*(?:;)?$").bytes.is_empty());
        assert!(holds(r"a?b*(?:c|d)?", b""));
    }

    #[test]
    fn case_folding_is_over_lowercase_text() {
        // The regex is case-insensitive; parts are lowercased, so only the
        // lower-case letter is needed.
        let n = needs(r"<SCRIPT>").bytes;
        assert!(n.iter().all(|s| !s.contains(b'S')));
        assert!(holds(r"<SCRIPT>", b"<script>"));
    }
}
