//! The keyword prefilter of one view: which rules are candidates for a part,
//! from the keywords that occur in it. One-byte keywords are looked up in the
//! part's byte set; longer ones are found by one pass of a dense DFA, ignoring
//! ASCII case. The DFA is copied out of an `aho-corasick` automaton (which
//! does the construction) into a compact table walked here: 16-bit states,
//! rows as wide as the keywords' distinct bytes, match states numbered last
//! so one compare per byte finds them, and each match state listing its rules
//! directly (every keyword ending there, overlapping ones included).
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
    /// Bytes that are a keyword on their own.
    single: ByteSet,
    /// Rules per one-byte keyword, indexed by the byte.
    single_rules: Vec<Vec<u32>>,
    /// Rules without keywords: candidates on every part they target.
    unconditional: Vec<u32>,
    /// Part kinds one of this view's rules targets.
    pub kinds: u16,
}

impl Prefilter {
    /// The prefilter of the rules whose view passes `view`.
    pub fn build(rules: &[Rule], view: impl Fn(View) -> bool) -> Result<Prefilter, SignatureError> {
        let mut patterns: Vec<&str> = Vec::new();
        let mut pattern_rules: Vec<Vec<u32>> = Vec::new();
        let mut single = ByteSet::EMPTY;
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
                    single.insert(b);
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
        let dfa = if patterns.is_empty() {
            None
        } else {
            Some(KeywordDfa::build(&patterns, &pattern_rules).map_err(|e| {
                SignatureError::Option {
                    key: "rules",
                    message: format!("building the keyword prefilter: {e}"),
                }
            })?)
        };
        Ok(Prefilter {
            dfa,
            single,
            single_rules,
            unconditional,
            kinds,
        })
    }

    /// Calls `offer` with every rule one of whose keywords occurs in `text`
    /// (whose bytes are `bytes`), and every rule without keywords. A rule may
    /// be offered more than once.
    pub fn candidates(&self, text: &[u8], bytes: &ByteSet, mut offer: impl FnMut(u32)) {
        for b in bytes.and(&self.single).iter() {
            for &r in &self.single_rules[usize::from(b)] {
                offer(r);
            }
        }
        if let Some(dfa) = &self.dfa {
            dfa.scan(text, &mut offer);
        }
        for &r in &self.unconditional {
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
    /// Rows are `1 << shift` columns wide.
    shift: u32,
    /// The next state per (state, column).
    trans: Vec<u16>,
    start: u16,
    /// States from here on are match states.
    first_match: u16,
    /// The rules of each match state (`state - first_match`).
    match_rules: Vec<Box<[u32]>>,
}

impl KeywordDfa {
    fn build(patterns: &[&str], pattern_rules: &[Vec<u32>]) -> Result<KeywordDfa, String> {
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
        let shift = reps.len().next_power_of_two().trailing_zeros();
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
        let id =
            |s: usize| u16::try_from(renumber[s]).map_err(|_| "more than 65535 keyword states");
        let width = 1usize << shift;
        let mut trans = vec![0u16; order.len() * width];
        for old in 0..order.len() {
            for c in 0..reps.len() {
                trans[(renumber[old] << shift) | c] = id(next[old * reps.len() + c])?;
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
                rules.into_boxed_slice()
            })
            .collect();
        Ok(KeywordDfa {
            classes,
            shift,
            trans,
            start: id(0)?,
            first_match: u16::try_from(plain.len())
                .map_err(|_| "more than 65535 keyword states")?,
            match_rules,
        })
    }

    /// Offers the rules of every keyword occurring in `text`. The byte loop
    /// only notes the match states it passes (a few per part), so it keeps
    /// its state in registers; the rules are offered afterwards.
    fn scan(&self, text: &[u8], offer: &mut impl FnMut(u32)) {
        let (trans, classes, shift) = (&self.trans[..], &self.classes, self.shift);
        let first_match = self.first_match;
        let mut seen = [0u16; 16];
        let mut n = 0;
        let mut s = self.start;
        for &b in text {
            let column = usize::from(classes[usize::from(b)]);
            s = trans[(usize::from(s) << shift) | column];
            if s >= first_match {
                seen[n] = s;
                n += 1;
                if n == seen.len() {
                    self.offer_all(&seen, offer);
                    n = 0;
                }
            }
        }
        self.offer_all(&seen[..n], offer);
    }

    #[inline(never)]
    fn offer_all(&self, states: &[u16], offer: &mut impl FnMut(u32)) {
        for &s in states {
            for &r in &*self.match_rules[usize::from(s - self.first_match)] {
                offer(r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(toml: &str) -> Vec<Rule> {
        crate::rules::parse(toml, "test").unwrap()
    }

    #[test]
    fn reports_every_overlapping_keyword_and_single_bytes() {
        let rs = rules(
            r#"
            [[rule]]
            id = "a"
            class = "sqli"
            severity = "critical"
            description = "a"
            targets = ["args"]
            regex = "select"
            keywords = ["select", "elect"]
            [[rule]]
            id = "b"
            class = "sqli"
            severity = "critical"
            description = "b"
            targets = ["args"]
            regex = "lect|'"
            keywords = ["lect", "'"]
            [[rule]]
            id = "c"
            class = "xss"
            severity = "critical"
            description = "c"
            targets = ["args"]
            detector = "xss"
            "#,
        );
        let p = Prefilter::build(&rs, |_| true).unwrap();
        let got = |text: &[u8]| {
            let mut v = Vec::new();
            p.candidates(text, &ByteSet::of(text), |r| v.push(r));
            v.sort_unstable();
            v.dedup();
            v
        };
        assert_eq!(got(b"x select y"), vec![0, 1, 2]);
        assert_eq!(got(b"elec'"), vec![1, 2]);
        assert_eq!(got(b"nothing"), vec![2]);
    }
}
