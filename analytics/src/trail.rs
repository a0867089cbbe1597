//! Owns object trails: for recent (principal, template) pairs, the last object
//! ids read, in order, each with its outcome (owned, foreign, denied). A BOLA
//! finding carries its walker's trail as evidence, so an operator sees the
//! sequence of ids touched, not only counts.
//!
//! Bounded apart from per-client state (which must stay within its budget): a
//! fixed number of trails in two generations, the older half forgotten when
//! full; ids are kept truncated to `ID_BYTES`.

use hashbrown::HashMap;
use serde_json::{Value, json};

use crate::template::TemplateId;

/// Steps a trail keeps (the most recent).
pub const TRAIL_LEN: usize = 24;
/// Bytes of an id kept (longer ids are cut, marked with `…`).
const ID_BYTES: usize = 36;
/// Trails kept in all.
pub(crate) const MAX_TRAILS: usize = 8192;

/// What one read of an object came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outcome {
    /// Read by the principal that owns it (the first to read it).
    Owned,
    /// Read successfully by a principal that does not own it.
    Foreign,
    /// Refused (403 or 404).
    Denied,
    /// Anything else: a success without a principal to compare, an error.
    #[default]
    Other,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Owned => "owned",
            Outcome::Foreign => "foreign",
            Outcome::Denied => "denied",
            Outcome::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Step {
    at_ms: u64,
    status: u16,
    outcome: Outcome,
    len: u8,
    cut: bool,
    id: [u8; ID_BYTES],
}

#[derive(Debug, Clone)]
struct Trail {
    steps: [Option<Step>; TRAIL_LEN],
    next: usize,
}

/// The trails.
#[derive(Debug, Default)]
pub struct Trails {
    cur: HashMap<(u64, TemplateId), Box<Trail>>,
    old: HashMap<(u64, TemplateId), Box<Trail>>,
}

impl Trails {
    /// Trails held, both generations.
    pub fn len(&self) -> usize {
        self.cur.len() + self.old.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a read of `id` by `who` on `template`.
    pub fn record(
        &mut self,
        who: u64,
        template: TemplateId,
        id: &str,
        at_ms: u64,
        status: u16,
        outcome: Outcome,
    ) {
        let key = (who, template);
        if !self.cur.contains_key(&key) {
            if self.cur.len() >= MAX_TRAILS / 2 {
                self.old = std::mem::take(&mut self.cur);
            }
            let trail = self.old.remove(&key).unwrap_or_else(|| {
                Box::new(Trail {
                    steps: [None; TRAIL_LEN],
                    next: 0,
                })
            });
            self.cur.insert(key, trail);
        }
        let Some(trail) = self.cur.get_mut(&key) else {
            return;
        };
        // Cut at a char boundary so the id stays valid UTF-8.
        let mut len = id.len().min(ID_BYTES);
        while !id.is_char_boundary(len) {
            len -= 1;
        }
        let mut bytes = [0u8; ID_BYTES];
        bytes[..len].copy_from_slice(&id.as_bytes()[..len]);
        trail.steps[trail.next % TRAIL_LEN] = Some(Step {
            at_ms,
            status,
            outcome,
            len: len as u8,
            cut: len < id.len(),
            id: bytes,
        });
        trail.next += 1;
    }

    /// The trail of `who` on `template`, oldest first, as finding evidence.
    pub fn sequence(&self, who: u64, template: TemplateId) -> Vec<Value> {
        let Some(t) = self.cur.get(&(who, template)) else {
            return Vec::new();
        };
        let n = t.next.min(TRAIL_LEN);
        (t.next - n..t.next)
            .filter_map(|i| t.steps[i % TRAIL_LEN])
            .map(|s| {
                let mut id = String::from_utf8_lossy(&s.id[..s.len as usize]).into_owned();
                if s.cut {
                    id.push('…');
                }
                json!({"id": id, "outcome": s.outcome.as_str(), "status": s.status, "at_ms": s.at_ms})
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_steps_in_order_with_outcomes() {
        let mut t = Trails::default();
        for i in 0..30u64 {
            let outcome = if i % 2 == 0 {
                Outcome::Foreign
            } else {
                Outcome::Denied
            };
            t.record(7, 3, &(1000 + i).to_string(), i, 200, outcome);
        }
        t.record(8, 3, "other-client", 0, 200, Outcome::Owned);
        let seq = t.sequence(7, 3);
        assert_eq!(seq.len(), TRAIL_LEN);
        assert_eq!(seq[0]["id"], "1006");
        assert_eq!(seq[TRAIL_LEN - 1]["id"], "1029");
        assert_eq!(seq[0]["outcome"], "foreign");
        assert_eq!(seq[1]["outcome"], "denied");
        assert!(t.sequence(7, 4).is_empty());
    }

    #[test]
    fn long_ids_are_cut_on_a_char_boundary() {
        let mut t = Trails::default();
        let id = "é".repeat(40);
        t.record(1, 1, &id, 0, 200, Outcome::Other);
        let got = t.sequence(1, 1)[0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(got.ends_with('…'));
        assert!(got.len() <= ID_BYTES + '…'.len_utf8());
    }

    #[test]
    fn stays_bounded() {
        let mut t = Trails::default();
        for who in 0..(MAX_TRAILS as u64 * 3) {
            t.record(who, 1, "1", 0, 200, Outcome::Other);
        }
        assert!(t.cur.len() + t.old.len() <= MAX_TRAILS);
    }
}
