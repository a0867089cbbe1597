//! A per-worker memo of header values and parameter names already found
//! clean. Browsers and API clients send the same User-Agent, Referer, cookies
//! and custom headers on every request, and the same parameter names and JSON
//! keys; a part found clean once is clean again under the same engine, so the
//! engine looks it up here before normalising and matching it.
//!
//! Bounded: `SLOTS` entries of at most `MAX_LEN` bytes each (256 KiB at most
//! per worker), in sets of two: a new value evicts the entry of its set used
//! least recently. Direct-mapped, two values a client sends on every request
//! (the bundled sample's cookie names `session` and `theme` do) could share a
//! slot and evict each other for ever. A hit compares the whole stored
//! value, so a hash collision (chosen by an attacker or not) can only cost a
//! miss, never skip an unseen value.
//!
//! Must only hold values inspected in full (every rule that could run on
//! them ran and none matched), and must forget everything when the engine
//! changes.

/// Entries in the memo.
const SLOTS: usize = 512;

/// Entries per set: a value may sit in either slot of its set.
const WAYS: usize = 2;

/// Longest value remembered, in bytes: longer ones are inspected every time.
pub(crate) const MAX_LEN: usize = 512;

/// Shortest value remembered, in bytes: even a one-byte part costs more to
/// normalise and scan than to look up.
pub(crate) const MIN_LEN: usize = 1;

#[derive(Debug, Default, Clone)]
struct Slot {
    /// The part kind (a `rules::part` bit); 0 when the slot is empty.
    kind: u16,
    value: Vec<u8>,
}

/// Header values found clean, per part kind.
#[derive(Debug, Default)]
pub(crate) struct CleanMemo {
    /// The engine the entries were found clean by (0: none yet).
    engine: u64,
    slots: Vec<Slot>,
    /// Per set, the way used most recently (kept on the next insert).
    recent: Vec<u8>,
}

impl CleanMemo {
    /// Whether `value` of `kind` was found clean by engine `engine`.
    pub fn contains(&mut self, engine: u64, kind: u16, value: &[u8]) -> bool {
        if self.engine != engine {
            self.reset(engine);
            return false;
        }
        let set = index(kind, value);
        for way in 0..WAYS {
            let slot = &self.slots[set * WAYS + way];
            if slot.kind == kind && slot.value == value {
                self.recent[set] = way as u8;
                return true;
            }
        }
        false
    }

    /// Remembers `value` of `kind` as clean under engine `engine`. Allocates
    /// only until the slot's buffer has grown to the value's size.
    pub fn insert(&mut self, engine: u64, kind: u16, value: &[u8]) {
        if self.engine != engine {
            self.reset(engine);
        }
        let set = index(kind, value);
        let way = usize::from(self.recent[set] == 0);
        self.recent[set] = way as u8;
        let slot = &mut self.slots[set * WAYS + way];
        slot.kind = kind;
        slot.value.clear();
        slot.value.extend_from_slice(value);
    }

    fn reset(&mut self, engine: u64) {
        self.engine = engine;
        if self.slots.len() != SLOTS {
            self.slots = vec![Slot::default(); SLOTS];
            self.recent = vec![0; SLOTS / WAYS];
        }
        for s in &mut self.slots {
            s.kind = 0;
            s.value.clear();
        }
    }
}

/// The set of a value: a multiplicative hash of its 8-byte words. Only picks
/// a set; equality is checked on the whole value.
fn index(kind: u16, value: &[u8]) -> usize {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = u64::from(kind).wrapping_mul(K) ^ value.len() as u64;
    let mut chunks = value.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    for &b in chunks.remainder() {
        h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
    }
    // The high half is the best mixed.
    ((h >> 32) as usize) % (SLOTS / WAYS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_per_kind_and_forgets_on_a_new_engine() {
        let mut m = CleanMemo::default();
        let ua = b"Mozilla/5.0 (X11; Linux x86_64)";
        assert!(!m.contains(1, 32, ua));
        m.insert(1, 32, ua);
        assert!(m.contains(1, 32, ua));
        assert!(!m.contains(1, 64, ua), "another part kind is another key");
        assert!(!m.contains(1, 32, b"Mozilla/5.0 (X11; Linux x86_65)"));
        assert!(!m.contains(2, 32, ua), "a new engine starts empty");
        assert!(!m.contains(1, 32, ua), "and the old entries are gone");
    }

    #[test]
    fn two_values_of_one_set_both_stay() {
        let mut m = CleanMemo::default();
        m.insert(1, 8, b"first");
        let set = index(8, b"first");
        let other = (0..)
            .map(|i| format!("other {i}"))
            .find(|v| index(8, v.as_bytes()) == set)
            .unwrap();
        m.insert(1, 8, other.as_bytes());
        for _ in 0..3 {
            assert!(m.contains(1, 8, b"first"));
            assert!(m.contains(1, 8, other.as_bytes()));
        }
        // A third value evicts the one used least recently.
        let third = (0..)
            .map(|i| format!("third {i}"))
            .find(|v| index(8, v.as_bytes()) == set)
            .unwrap();
        assert!(m.contains(1, 8, b"first"));
        m.insert(1, 8, third.as_bytes());
        assert!(m.contains(1, 8, b"first"));
        assert!(!m.contains(1, 8, other.as_bytes()));
        assert!(m.contains(1, 8, third.as_bytes()));
    }

    #[test]
    fn stays_bounded() {
        let mut m = CleanMemo::default();
        for i in 0..10 * SLOTS {
            m.insert(1, 128, format!("value number {i}").as_bytes());
        }
        assert_eq!(m.slots.len(), SLOTS);
        let held = m.slots.iter().filter(|s| s.kind != 0).count();
        assert!(held <= SLOTS);
        assert!(m.contains(
            1,
            128,
            format!("value number {}", 10 * SLOTS - 1).as_bytes()
        ));
    }
}
