//! Where a rule's regex needs bytes to be, beyond having them at all (which
//! `requires` works out): a regex anchored at the start of the part can only
//! match a part that begins the way one of its matches begins, and a regex
//! whose every match has a `_` somewhere before a `(` cannot match a part
//! whose first `_` comes after its last `(`. Both are worked out from the
//! regex when the rule is loaded and cost a few loads (or a `memchr` each
//! way) per candidate part: far less than running the regex, on the
//! header values every browser sends (`Mozilla/5.0 (X11; Linux x86_64...`,
//! `https://app.example.com/orders?page=2`).
//!
//! Sound by construction, over the text the regex runs on (ASCII case
//! folded, as the regex ignores case): when unsure, it needs nothing. Must
//! not reject a part the regex could match.

use regex_syntax::hir::{Hir, HirKind, Look};

use crate::byteset::ByteSet;
use crate::requires::class_bytes;

/// How a part must begin for a regex anchored at its start to match it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Start {
    /// First bytes that are a whole match on their own (lower case).
    single: ByteSet,
    /// Per first byte, 1 + its index in `seconds` (0: no match begins with
    /// it); upper-case letters share their lower case's entry.
    first: Box<[u8; 256]>,
    /// The second bytes a match may have after a first byte (lower case).
    seconds: Vec<ByteSet>,
}

/// Some byte of `first` occurs before some byte of `then`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Order {
    first: Bytes,
    then: Bytes,
}

/// A small set of bytes that are not letters (so the text's case does not
/// matter), found with `memchr`, three at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bytes {
    list: Vec<u8>,
}

/// Most bytes in a set an order is made of: a set of more is too common to
/// be worth the scan.
const MAX_ORDER_BYTES: usize = 6;

impl Start {
    /// Whether `text` begins the way a match may.
    #[inline]
    pub fn allows(&self, text: &[u8]) -> bool {
        let Some(&a) = text.first() else {
            return false;
        };
        if self.single.contains(a.to_ascii_lowercase()) {
            return true;
        }
        let (Some(&b), Some(i)) = (text.get(1), self.first[usize::from(a)].checked_sub(1)) else {
            return false;
        };
        self.seconds[usize::from(i)].contains(b.to_ascii_lowercase())
    }
}

impl Order {
    /// Whether some byte of `first` occurs in `text` before some byte of
    /// `then`.
    pub fn holds(&self, text: &[u8]) -> bool {
        match (self.first.find(text), self.then.rfind(text)) {
            (Some(i), Some(j)) => i < j,
            _ => false,
        }
    }
}

impl Bytes {
    fn new(set: ByteSet) -> Option<Bytes> {
        let list: Vec<u8> = set.iter().collect();
        let fits = !list.is_empty()
            && list.len() <= MAX_ORDER_BYTES
            && list.iter().all(|b| !b.is_ascii_alphabetic());
        fits.then_some(Bytes { list })
    }

    fn find(&self, text: &[u8]) -> Option<usize> {
        self.list
            .chunks(3)
            .filter_map(|c| match *c {
                [a] => memchr::memchr(a, text),
                [a, b] => memchr::memchr2(a, b, text),
                [a, b, c, ..] => memchr::memchr3(a, b, c, text),
                [] => None,
            })
            .min()
    }

    fn rfind(&self, text: &[u8]) -> Option<usize> {
        self.list
            .chunks(3)
            .filter_map(|c| match *c {
                [a] => memchr::memrchr(a, text),
                [a, b] => memchr::memrchr2(a, b, text),
                [a, b, c, ..] => memchr::memrchr3(a, b, c, text),
                [] => None,
            })
            .max()
    }
}

/// How a part must begin for `hir` to match it, when every match of `hir`
/// starts at the start of the part and cannot be empty.
pub(crate) fn start(hir: &Hir) -> Option<Start> {
    if !hir.properties().look_set_prefix().contains(Look::Start) {
        return None;
    }
    let head = head(hir);
    if head.nullable {
        return None;
    }
    let mut single = ByteSet::EMPTY;
    for b in head.single.iter() {
        single.insert(b.to_ascii_lowercase());
    }
    let mut folded = vec![ByteSet::EMPTY; 256];
    for (a, seconds) in (0..=255u8).zip(&head.pairs) {
        let mut lower = ByteSet::EMPTY;
        for b in seconds.iter() {
            lower.insert(b.to_ascii_lowercase());
        }
        let a = usize::from(a.to_ascii_lowercase());
        folded[a] = folded[a].union(&lower);
    }
    let mut first = Box::new([0u8; 256]);
    let mut seconds = Vec::new();
    for (a, s) in (0..=255u8).zip(folded) {
        if s.is_empty() || single.contains(a) {
            continue;
        }
        seconds.push(s);
        // At most 255 first bytes have an entry: upper-case letters are
        // folded into lower case.
        let i = u8::try_from(seconds.len()).ok()?;
        first[usize::from(a)] = i;
        first[usize::from(a.to_ascii_uppercase())] = i;
    }
    Some(Start {
        single,
        first,
        seconds,
    })
}

/// The first bytes of the matches of an expression: whether it matches the
/// empty text, the bytes that are a whole match, the first bytes of longer
/// matches, and per first byte the second bytes.
struct Head {
    nullable: bool,
    single: ByteSet,
    first: ByteSet,
    /// Indexed by the first byte.
    pairs: Vec<ByteSet>,
}

impl Head {
    fn empty() -> Head {
        Head {
            nullable: true,
            single: ByteSet::EMPTY,
            first: ByteSet::EMPTY,
            pairs: vec![ByteSet::EMPTY; 256],
        }
    }

    fn bytes(set: ByteSet) -> Head {
        Head {
            nullable: false,
            single: set,
            first: set,
            ..Head::empty()
        }
    }

    /// Pairs whose first byte is in `firsts` and second in `seconds`.
    fn add_pairs(&mut self, firsts: &ByteSet, seconds: &ByteSet) {
        for a in firsts.iter() {
            let p = &mut self.pairs[usize::from(a)];
            *p = p.union(seconds);
        }
    }

    fn union(&mut self, other: &Head) {
        self.nullable |= other.nullable;
        self.single = self.single.union(&other.single);
        self.first = self.first.union(&other.first);
        for (p, q) in self.pairs.iter_mut().zip(&other.pairs) {
            *p = p.union(q);
        }
    }

    /// This expression followed by `next`.
    fn then(mut self, next: Head) -> Head {
        let (single, nullable) = (self.single, self.nullable);
        self.add_pairs(&single, &next.first);
        if nullable {
            self.first = self.first.union(&next.first);
            for (p, q) in self.pairs.iter_mut().zip(&next.pairs) {
                *p = p.union(q);
            }
        }
        let keep = if next.nullable {
            single
        } else {
            ByteSet::EMPTY
        };
        let add = if nullable {
            next.single
        } else {
            ByteSet::EMPTY
        };
        self.single = keep.union(&add);
        self.nullable = nullable && next.nullable;
        self
    }
}

fn head(hir: &Hir) -> Head {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Head::empty(),
        HirKind::Literal(lit) => match *lit.0 {
            [] => Head::empty(),
            [a] => Head::bytes(ByteSet::EMPTY.with(a)),
            [a, b, ..] => {
                let mut h = Head::bytes(ByteSet::EMPTY.with(a));
                h.single = ByteSet::EMPTY;
                h.pairs[usize::from(a)].insert(b);
                h
            }
        },
        HirKind::Class(class) => Head::bytes(class_bytes(class)),
        HirKind::Repetition(rep) => {
            if rep.max == Some(0) {
                return Head::empty();
            }
            let mut h = head(&rep.sub);
            h.nullable |= rep.min == 0;
            if rep.max.is_none_or(|m| m >= 2) {
                let (single, first) = (h.single, h.first);
                h.add_pairs(&single, &first);
            }
            h
        }
        HirKind::Capture(cap) => head(&cap.sub),
        HirKind::Concat(subs) => subs
            .iter()
            .fold(Head::empty(), |acc, sub| acc.then(head(sub))),
        HirKind::Alternation(subs) => {
            let mut h = Head {
                nullable: false,
                ..Head::empty()
            };
            for sub in subs {
                h.union(&head(sub));
            }
            h
        }
    }
}

/// An order every match of `hir` has, from the needs of the parts of its
/// concatenation (or of every branch of its alternation): the rarest.
pub(crate) fn order(hir: &Hir, needs: impl Fn(&Hir) -> Vec<ByteSet>) -> Option<Order> {
    let (first, then) = order_sets(hir, &needs)?;
    // Sets sharing a byte, or holding whitespace, are met by nearly any
    // text with both: not worth the scan.
    const SPACE: ByteSet = ByteSet::of_const(b" \n");
    if first.intersects(&then) || first.union(&then).intersects(&SPACE) {
        return None;
    }
    Some(Order {
        first: Bytes::new(first)?,
        then: Bytes::new(then)?,
    })
}

fn order_sets(hir: &Hir, needs: &impl Fn(&Hir) -> Vec<ByteSet>) -> Option<(ByteSet, ByteSet)> {
    match hir.kind() {
        HirKind::Capture(cap) => order_sets(&cap.sub, needs),
        HirKind::Alternation(subs) => {
            let mut all = (ByteSet::EMPTY, ByteSet::EMPTY);
            for sub in subs {
                let (a, b) = order_sets(sub, needs)?;
                all = (all.0.union(&a), all.1.union(&b));
            }
            Some(all)
        }
        HirKind::Concat(subs) => {
            let usable = |s: &ByteSet| Bytes::new(*s).is_some();
            let parts: Vec<Vec<ByteSet>> = subs
                .iter()
                .map(|s| needs(s).into_iter().filter(usable).collect())
                .collect();
            // The rarest pair; of equals, the one starting latest.
            let pairs = parts.iter().enumerate().flat_map(|(i, early)| {
                parts[i + 1..].iter().flat_map(move |late| {
                    early
                        .iter()
                        .flat_map(move |a| late.iter().map(move |b| (i, *a, *b)))
                })
            });
            pairs
                .min_by_key(|&(i, a, b)| (rarity(&a) + rarity(&b), std::cmp::Reverse(i)))
                .map(|(_, a, b)| (a, b))
        }
        _ => None,
    }
}

/// How common the bytes of a set are: the number of them, punctuation
/// that URLs and prose use counting more.
fn rarity(set: &ByteSet) -> u32 {
    set.iter()
        .map(|b| match b {
            b' ' | b'.' | b'-' | b'/' | b',' | b':' | b'_' | b'=' | b'0'..=b'9' => 3,
            _ => 1,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pattern: &str) -> Hir {
        crate::requires::parse(pattern).unwrap()
    }

    #[test]
    fn an_anchored_regex_needs_the_part_to_begin_like_a_match() {
        let s = start(&parse(r"^\s*\(*\d+\s*=")).unwrap();
        assert!(s.allows(b"1=1") && s.allows(b" (2=2") && s.allows(b"(("));
        assert!(!s.allows(b"https://x/?a=1") && !s.allows(b""));
        let s = start(&parse(r"^(?:sudo\s+)?(?:cat|w)\b")).unwrap();
        assert!(s.allows(b"CAT /etc") && s.allows(b"w") && s.allows(b"Sudo w"));
        assert!(!s.allows(b"ca") || s.allows(b"ca"), "a prefix may pass");
        assert!(!s.allows(b"Mozilla/5.0"));
        // Not anchored, or able to match nothing: no need.
        assert!(start(&parse(r"cat\b")).is_none());
        assert!(start(&parse(r"^\s*$")).is_none());
        assert!(start(&parse(r"^a|b")).is_none());
    }

    #[test]
    fn an_order_needs_a_byte_before_another() {
        let needs = |h: &Hir| crate::requires::tests_collect(h);
        let o = order(&parse(r"[a-z]+(?:_[a-z0-9]+)+\s*\(\s*(?:\)|\w)"), needs).unwrap();
        assert!(o.holds(b"x_y()") && o.holds(b"a(b_c(1"));
        assert!(!o.holds(b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0)"));
        let o = order(&parse(r"\{[a-z]*,[a-z]*\}|/[a-z]*[?*]/"), needs).unwrap();
        assert!(o.holds(b"{a,b}") && o.holds(b"/e?c/"));
        assert!(!o.holds(b"https://app.example.com/orders?page=2"));
        // Shared bytes or whitespace: too weak to keep.
        assert!(order(&parse(r"\.\./"), needs).is_none());
        assert!(order(&parse(r"select\s+\w+\s+from"), needs).is_none());
    }
}
