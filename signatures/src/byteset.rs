//! A set of byte values as 256 bits: which bytes a normalised part contains,
//! and which bytes a rule's regex needs. Checking a rule's needs against a
//! part's set is a few AND instructions, far cheaper than running the regex.
//!
//! Must stay a plain value type (no allocation, `Copy`).

/// A set of byte values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ByteSet([u64; 4]);

impl ByteSet {
    /// The empty set.
    pub const EMPTY: ByteSet = ByteSet([0; 4]);

    /// The bytes of `text`. ASCII bytes (nearly all) take their bits from a
    /// table into two words held in registers: no store per byte, so no chain
    /// of stores and reloads to one word.
    pub fn of(text: &[u8]) -> ByteSet {
        let (mut lo, mut hi, mut high) = (0u64, 0u64, [0u64; 2]);
        for &b in text {
            match ASCII_BITS.get(usize::from(b)) {
                Some(&[l, h]) => {
                    lo |= l;
                    hi |= h;
                }
                None => high[usize::from((b >> 6) & 1)] |= 1 << (b & 63),
            }
        }
        ByteSet([lo, hi, high[0], high[1]])
    }

    /// The bytes of an ASCII `text`, with upper-case letters folded to lower
    /// case; `None` when a byte is not ASCII.
    pub fn of_ascii_folded(text: &[u8]) -> Option<ByteSet> {
        let (mut lo, mut hi) = (0u64, 0u64);
        for &b in text {
            let &[l, h] = FOLDED_BITS.get(usize::from(b))?;
            lo |= l;
            hi |= h;
        }
        Some(ByteSet([lo, hi, 0, 0]))
    }

    /// The bytes of `text`, at compile time.
    pub const fn of_const(text: &[u8]) -> ByteSet {
        let mut s = [0u64; 4];
        let mut i = 0;
        while i < text.len() {
            let b = text[i];
            s[(b >> 6) as usize] |= 1 << (b & 63);
            i += 1;
        }
        ByteSet(s)
    }

    /// The set with `b` added, at compile time.
    #[must_use]
    pub const fn with(mut self, b: u8) -> ByteSet {
        self.0[(b >> 6) as usize] |= 1 << (b & 63);
        self
    }

    /// Adds `b`.
    pub fn insert(&mut self, b: u8) {
        self.0[usize::from(b >> 6)] |= 1 << (b & 63);
    }

    /// Whether `b` is in the set.
    pub fn contains(&self, b: u8) -> bool {
        self.0[usize::from(b >> 6)] & (1 << (b & 63)) != 0
    }

    /// Whether the two sets share a byte.
    pub fn intersects(&self, other: &ByteSet) -> bool {
        (self.0[0] & other.0[0])
            | (self.0[1] & other.0[1])
            | (self.0[2] & other.0[2])
            | (self.0[3] & other.0[3])
            != 0
    }

    /// The bytes in either set.
    #[must_use]
    pub fn union(&self, other: &ByteSet) -> ByteSet {
        ByteSet(std::array::from_fn(|i| self.0[i] | other.0[i]))
    }

    /// The bytes in both sets.
    #[must_use]
    pub fn and(&self, other: &ByteSet) -> ByteSet {
        ByteSet(std::array::from_fn(|i| self.0[i] & other.0[i]))
    }

    /// The bytes of this set that are not in `other`.
    #[must_use]
    pub fn minus(&self, other: &ByteSet) -> ByteSet {
        ByteSet(std::array::from_fn(|i| self.0[i] & !other.0[i]))
    }

    /// How many bytes the set holds.
    #[cfg(test)]
    pub fn len(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == [0; 4]
    }

    /// The bytes, in increasing order.
    pub fn iter(self) -> ByteSetIter {
        ByteSetIter {
            words: self.0,
            word: 0,
        }
    }

    /// The bytes `lo..=hi`.
    pub fn range(lo: u8, hi: u8) -> ByteSet {
        let mut s = ByteSet::EMPTY;
        for b in lo..=hi {
            s.insert(b);
        }
        s
    }
}

/// The bytes of a [`ByteSet`], in increasing order.
#[derive(Debug, Clone)]
pub(crate) struct ByteSetIter {
    words: [u64; 4],
    word: usize,
}

impl Iterator for ByteSetIter {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        while self.word < 4 {
            let bits = self.words[self.word];
            if bits != 0 {
                self.words[self.word] = bits & (bits - 1);
                // INVARIANT: word < 4 and the bit index < 64: below 256.
                return Some((self.word as u32 * 64 + bits.trailing_zeros()) as u8);
            }
            self.word += 1;
        }
        None
    }
}

/// Each ASCII byte's bit, as the set's first two words.
static ASCII_BITS: [[u64; 2]; 128] = bits_table(false);

/// The same with upper-case letters giving their lower-case bit.
static FOLDED_BITS: [[u64; 2]; 128] = bits_table(true);

const fn bits_table(fold: bool) -> [[u64; 2]; 128] {
    let mut t = [[0u64; 2]; 128];
    let mut b = 0;
    while b < 128 {
        let c = if fold {
            (b as u8).to_ascii_lowercase()
        } else {
            b as u8
        };
        t[b][(c >> 6) as usize] = 1 << (c & 63);
        b += 1;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::ByteSet;

    #[test]
    fn set_operations() {
        let a = ByteSet::of(b"select 1");
        assert!(a.contains(b's') && a.contains(b' ') && !a.contains(b'x'));
        assert_eq!(a.len(), 7);
        let b = ByteSet::of(b"<>\xff");
        assert!(!a.intersects(&b));
        assert!(a.union(&b).contains(0xff));
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![b'<', b'>', 0xff]);
        assert_eq!(a.and(&ByteSet::of(b"st")), ByteSet::of(b"st"));
        assert_eq!(a.minus(&ByteSet::of(b"selct")), ByteSet::of(b" 1"));
        assert!(ByteSet::EMPTY.is_empty() && ByteSet::range(0, 255).len() == 256);
    }

    #[test]
    fn ascii_folding() {
        let all: Vec<u8> = (0..128).collect();
        assert_eq!(
            ByteSet::of_ascii_folded(&all),
            Some(ByteSet::of(&all.to_ascii_lowercase()))
        );
        assert_eq!(
            ByteSet::of_ascii_folded(b"Mozilla/5.0 (X11; Linux)"),
            Some(ByteSet::of(b"mozilla/5.0 (x11; linux)"))
        );
        assert_eq!(ByteSet::of_ascii_folded(b"caf\xc3\xa9"), None);
    }
}
