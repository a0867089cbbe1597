//! The keyword prefilter of one view: which rules are candidates for a part,
//! from the keywords that occur in it. One-byte keywords are looked up in the
//! part's byte set; longer ones are found by a dense DFA, ignoring ASCII
//! case. The DFA is copied out of an `aho-corasick` automaton (which does the
//! construction) into a table walked here: rows as wide as the keywords'
//! distinct bytes, each state held as its row's offset (the walk is bound by
//! load latency, so nothing but the load may sit between two steps), match
//! states numbered last so one compare per byte finds them, and each match
//! state listing its rules directly (every keyword ending there, overlapping
//! ones included). A longer part is walked as two halves at once.
//!
//! Must not run checks: it only names candidates, and must report every rule
//! one of whose keywords occurs (a missed keyword is a missed attack).

use std::collections::HashMap;

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, MatchKind, StartKind};

use crate::byteset::ByteSet;
use crate::error::SignatureError;
use crate::rules::{Rule, View};

/// The prefilter of one view.
#[derive(Debug)]
pub(crate) struct Prefilter {
    /// Multi-byte keywords.
    dfa: Option<KeywordDfa>,
    /// What to offer on a part of each kind, by the kind's bit index: only
    /// the rules that target the kind, so a header is not offered the many
    /// rules that only read parameters (found by its keywords all the same).
    by_kind: Vec<Offers>,
    /// Part kinds one of this view's rules targets.
    pub kinds: u16,
}

/// The rules one kind of part is offered, per keyword that occurs in it.
#[derive(Debug, Default)]
struct Offers {
    /// Bytes that are a keyword on their own of a rule targeting the kind.
    single: ByteSet,
    /// Rules per one-byte keyword, indexed by the byte (empty when `single`
    /// is).
    single_rules: Vec<Box<[u32]>>,
    /// Rules per match state of the DFA, by its row after `first_match`.
    match_rules: Vec<Box<[u32]>>,
    /// Rules without keywords: candidates on every part of the kind.
    unconditional: Box<[u32]>,
}

impl Prefilter {
    /// The prefilter of the rules whose view passes `view`.
    pub fn build(rules: &[Rule], view: impl Fn(View) -> bool) -> Result<Prefilter, SignatureError> {
        let mut patterns: Vec<&str> = Vec::new();
        let mut pattern_rules: Vec<Vec<u32>> = Vec::new();
        let mut single_rules: Vec<Vec<u32>> = vec![Vec::new(); 256];
        let mut unconditional = Vec::new();
        let mut kinds = 0;
        for (i, rule) in rules.iter().enumerate().filter(|(_, r)| view(r.view)) {
            let i = i as u32;
            kinds |= rule.targets;
            if rule.keywords.is_empty() {
                unconditional.push(i);
            }
            for k in &rule.keywords {
                if let &[b] = k.as_bytes() {
                    if !single_rules[usize::from(b)].contains(&i) {
                        single_rules[usize::from(b)].push(i);
                    }
                    continue;
                }
                match patterns.iter().position(|p| p == k) {
                    Some(p) => pattern_rules[p].push(i),
                    None => {
                        patterns.push(k);
                        pattern_rules.push(vec![i]);
                    }
                }
            }
        }
        let (dfa, match_rules) = if patterns.is_empty() {
            (None, Vec::new())
        } else {
            let (dfa, match_rules) = KeywordDfa::build(&patterns, &pattern_rules).map_err(|e| {
                SignatureError::Option {
                    key: "rules",
                    message: format!("building the keyword prefilter: {e}"),
                }
            })?;
            (Some(dfa), match_rules)
        };
        // Lists keep the order of the view's lists, so rules are offered
        // (and hits reported) in the order they were before the split.
        let by_kind = (0..u16::BITS)
            .map(|bit| {
                let kind = 1u16 << bit;
                if kinds & kind == 0 {
                    return Offers::default();
                }
                let of_kind = |list: &[u32]| -> Box<[u32]> {
                    list.iter()
                        .copied()
                        .filter(|&r| rules[r as usize].targets & kind != 0)
                        .collect()
                };
                let single_rules: Vec<Box<[u32]>> =
                    single_rules.iter().map(|l| of_kind(l)).collect();
                let mut single = ByteSet::EMPTY;
                for (b, l) in (0..=255u8).zip(&single_rules) {
                    if !l.is_empty() {
                        single.insert(b);
                    }
                }
                Offers {
                    single,
                    single_rules,
                    match_rules: match_rules.iter().map(|l| of_kind(l)).collect(),
                    unconditional: of_kind(&unconditional),
                }
            })
            .collect();
        Ok(Prefilter {
            dfa,
            by_kind,
            kinds,
        })
    }

    /// Calls `offer` with every rule targeting `kind` (one part kind bit) one
    /// of whose keywords occurs in `text` (whose bytes are `bytes`), and every
    /// rule targeting it without keywords. A rule may be offered more than
    /// once.
    pub fn candidates(&self, kind: u16, text: &[u8], bytes: &ByteSet, mut offer: impl FnMut(u32)) {
        let Some(offers) = self.by_kind.get(kind.trailing_zeros() as usize) else {
            return;
        };
        for b in bytes.and(&offers.single).iter() {
            for &r in &*offers.single_rules[usize::from(b)] {
                offer(r);
            }
        }
        if let Some(dfa) = &self.dfa
            && !offers.match_rules.is_empty()
        {
            dfa.scan(text, &offers.match_rules, &mut offer);
        }
        for &r in &*offers.unconditional {
            offer(r);
        }
    }
}

/// The multi-byte keywords as a dense table; see the module header.
#[derive(Debug)]
struct KeywordDfa {
    /// Each byte's column; case variants share one, and bytes in no keyword
    /// share column 0.
    classes: [u8; 256],
    /// Columns per row.
    width: usize,
    /// The next state per (state, column), as the offset of its row: the
    /// byte loop is bound by each load's latency, and a state already
    /// scaled needs no shift or multiply before the next load.
    trans: Vec<u32>,
    start: u32,
    /// Row offsets from here on are match states.
    first_match: u32,
}

impl KeywordDfa {
    /// The table, and the rules of each match state (every keyword ending
    /// there), by its row after `first_match`.
    fn build(
        patterns: &[&str],
        pattern_rules: &[Vec<u32>],
    ) -> Result<(KeywordDfa, Vec<Vec<u32>>), String> {
        let ac = DFA::builder()
            .match_kind(MatchKind::Standard)
            .start_kind(StartKind::Unanchored)
            // Plain parts are matched as they came, in any case.
            .ascii_case_insensitive(true)
            .build(patterns)
            .map_err(|e| e.to_string())?;
        // Columns: one per distinct keyword byte (case-folded), and column 0
        // for every other byte, which always leads where any other would.
        let mut classes = [0u8; 256];
        let mut reps: Vec<u8> = vec![0];
        for b in patterns.iter().flat_map(|p| p.bytes()) {
            let b = b.to_ascii_lowercase();
            if classes[usize::from(b)] == 0 {
                let c =
                    u8::try_from(reps.len()).map_err(|_| "more than 255 distinct keyword bytes")?;
                classes[usize::from(b)] = c;
                classes[usize::from(b.to_ascii_uppercase())] = c;
                reps.push(b);
            }
        }
        reps[0] = (0..=255u8)
            .find(|&b| classes[usize::from(b)] == 0)
            .ok_or("keywords use every byte value")?;
        let width = reps.len();
        // Every reachable state, breadth first from the start.
        let start = ac.start_state(Anchored::No).map_err(|e| e.to_string())?;
        let mut order: Vec<StateID> = vec![start];
        let mut index: HashMap<StateID, usize> = HashMap::from([(start, 0)]);
        let mut next = Vec::new();
        let mut i = 0;
        while i < order.len() {
            for &rep in &reps {
                let to = ac.next_state(Anchored::No, order[i], rep);
                let n = *index.entry(to).or_insert_with(|| {
                    order.push(to);
                    order.len() - 1
                });
                next.push(n);
            }
            i += 1;
        }
        // Renumber: plain states first, match states last.
        let mut renumber = vec![0usize; order.len()];
        let (plain, matching): (Vec<usize>, Vec<usize>) =
            (0..order.len()).partition(|&s| !ac.is_match(order[s]));
        for (new, &old) in plain.iter().chain(&matching).enumerate() {
            renumber[old] = new;
        }
        let row = |s: usize| {
            u32::try_from(s * width).map_err(|_| "keyword table larger than 4 G entries")
        };
        let mut trans = vec![0u32; order.len() * width];
        for old in 0..order.len() {
            for c in 0..width {
                trans[renumber[old] * width + c] = row(renumber[next[old * width + c]])?;
            }
        }
        let match_rules = matching
            .iter()
            .map(|&old| {
                let sid = order[old];
                let mut rules: Vec<u32> = (0..ac.match_len(sid))
                    .flat_map(|k| {
                        pattern_rules[ac.match_pattern(sid, k).as_usize()]
                            .iter()
                            .copied()
                    })
                    .collect();
                rules.sort_unstable();
                rules.dedup();
                rules
            })
            .collect();
        let dfa = KeywordDfa {
            classes,
            width,
            trans,
            start: row(renumber[0])?,
            first_match: row(plain.len())?,
        };
        Ok((dfa, match_rules))
    }

    /// Offers the rules of every keyword occurring in `text`, as `rules`
    /// lists them per match state. The byte loop
    /// only notes the match states it passes (a few per part), so it keeps
    /// its state in registers; the rules are offered afterwards.
    ///
    /// Each step waits for the previous one's load, so a longer text is
    /// walked as two halves at once, the second from the start state. The
    /// first then goes on into the second half until it reaches the state
    /// the second was in at the same byte (usually within a few bytes): from
    /// there on both would see the same keywords, and only a keyword
    /// straddling the middle needs the first half's context.
    fn scan(&self, text: &[u8], rules: &[Box<[u32]>], offer: &mut impl FnMut(u32)) {
        /// How many of the second half's first states are kept, to find
        /// where the first half catches up with it.
        const SYNC: usize = 16;
        let mut seen = Seen {
            states: [0; 16],
            n: 0,
            rules,
        };
        if text.len() < 2 * SYNC {
            self.walk(self.start, text, &mut seen, offer);
            self.offer_all(&seen.states[..seen.n], rules, offer);
            return;
        }
        let (trans, classes) = (&self.trans[..], &self.classes);
        let first_match = self.first_match;
        let (front, back) = text.split_at(text.len() / 2);
        let mut kept = [0u32; SYNC];
        let (mut a, mut b) = (self.start, self.start);
        for (i, (&x, &y)) in front.iter().zip(back).enumerate() {
            a = trans[usize::from(classes[usize::from(x)])..][a as usize];
            b = trans[usize::from(classes[usize::from(y)])..][b as usize];
            if a >= first_match {
                seen.push(a, self, offer);
            }
            if b >= first_match {
                seen.push(b, self, offer);
            }
            if i < SYNC {
                kept[i] = b;
            }
        }
        // An odd length leaves the second half one byte longer.
        if back.len() > front.len() {
            self.walk(b, &back[front.len()..], &mut seen, offer);
        }
        for (i, &x) in back.iter().enumerate() {
            a = trans[usize::from(classes[usize::from(x)])..][a as usize];
            if a >= first_match {
                seen.push(a, self, offer);
            }
            if kept.get(i) == Some(&a) {
                break;
            }
        }
        self.offer_all(&seen.states[..seen.n], rules, offer);
    }

    /// Walks `text` from state `s`, noting match states in `seen`; returns
    /// the last state.
    fn walk(&self, mut s: u32, text: &[u8], seen: &mut Seen, offer: &mut impl FnMut(u32)) -> u32 {
        let (trans, classes) = (&self.trans[..], &self.classes);
        for &b in text {
            // The column's slice is taken off the chain of loads: only the
            // load itself waits for the previous state.
            s = trans[usize::from(classes[usize::from(b)])..][s as usize];
            if s >= self.first_match {
                seen.push(s, self, offer);
            }
        }
        s
    }

    #[inline(never)]
    fn offer_all(&self, states: &[u32], rules: &[Box<[u32]>], offer: &mut impl FnMut(u32)) {
        for &s in states {
            let i = (s - self.first_match) as usize / self.width;
            for &r in &*rules[i] {
                offer(r);
            }
        }
    }
}

/// Match states passed, offered in batches.
struct Seen<'a> {
    states: [u32; 16],
    n: usize,
    /// The rules to offer per match state.
    rules: &'a [Box<[u32]>],
}

impl Seen<'_> {
    fn push(&mut self, s: u32, dfa: &KeywordDfa, offer: &mut impl FnMut(u32)) {
        self.states[self.n] = s;
        self.n += 1;
        if self.n == self.states.len() {
            dfa.offer_all(&self.states, self.rules, offer);
            self.n = 0;
        }
    }
}

#[cfg(test)]
mod tests;
