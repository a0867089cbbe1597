//! What the engine skips a rule by must hold for every match of its regex:
//! texts made from each bundled rule's regex (walking its syntax tree,
//! choosing branches, repetitions and class members at random) that the
//! regex matches must meet the rule's needs (`requires`, `placement`), and
//! must hold one of its keywords (the prefilter).

use regex_syntax::hir::{Class, Hir, HirKind};

use crate::byteset::ByteSet;
use crate::normalize;
use crate::rules::{self, Check, Rule, View};

/// Matches tried per rule.
const SAMPLES: usize = 400;

/// Rules whose keywords are known not to cover every match of their regex.
/// Keywords with a space already stand for a line break there
/// (`rules::with_line_breaks`), which took 14 rules off this list when it was
/// written; seven more were fixed by adding what their matches must hold (a
/// scheme and colon for `rfi-internal-address`, whose `http:\n//localhost`
/// and `http:localhost` a WHATWG URL parser reads as loopback). Left:
/// `xss-obfuscated-js`, whose first branch is any 30 of `[]()!+` with
/// whitespace between any two, and `lfi-hidden-path`, whose regex also
/// matches a path starting with `.`, which an origin-form request target
/// never does (it starts with `/`). A rule not listed must stay sound.
const KEYWORD_GAPS: &[&str] = &["lfi-hidden-path", "xss-obfuscated-js"];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Bytes a normalised part never holds (see `requires::impossible`): a
/// class member is drawn from the others.
fn possible(b: u8) -> bool {
    !b.is_ascii_uppercase() && !matches!(b, 0 | b'\t' | 0x0b | 0x0c | b'\r')
}

/// Appends a random text `hir` matches (ignoring look-arounds, which the
/// regex check afterwards enforces). False when a class offers no possible
/// byte.
fn sample(hir: &Hir, rng: &mut Rng, out: &mut Vec<u8>) -> bool {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => true,
        HirKind::Literal(lit) => {
            out.extend(lit.0.iter().map(u8::to_ascii_lowercase));
            true
        }
        HirKind::Class(class) => {
            let bytes: Vec<u8> = class_bytes(class)
                .into_iter()
                .filter(|&b| possible(b))
                .collect();
            if bytes.is_empty() {
                return false;
            }
            // Whitespace and punctuation more often than their share: they
            // are what rules and needs turn on.
            let pick = if rng.below(3) == 0 {
                bytes
                    .iter()
                    .copied()
                    .filter(|b| !b.is_ascii_alphanumeric())
                    .nth(rng.below(8))
            } else {
                None
            };
            out.push(pick.unwrap_or_else(|| bytes[rng.below(bytes.len())]));
            true
        }
        HirKind::Repetition(rep) => {
            let extra = rep.max.map_or(3, |m| (m - rep.min).min(3)) as usize;
            let n = rep.min as usize + rng.below(extra + 1);
            (0..n).all(|_| sample(&rep.sub, rng, out))
        }
        HirKind::Capture(cap) => sample(&cap.sub, rng, out),
        HirKind::Concat(subs) => subs.iter().all(|s| sample(s, rng, out)),
        HirKind::Alternation(subs) => sample(&subs[rng.below(subs.len())], rng, out),
    }
}

fn class_bytes(class: &Class) -> Vec<u8> {
    match class {
        Class::Bytes(c) => c.iter().flat_map(|r| r.start()..=r.end()).collect(),
        Class::Unicode(c) => c
            .iter()
            .flat_map(|r| u32::from(r.start())..=u32::from(r.end()).min(0xff))
            .filter_map(|b| u8::try_from(b).ok())
            .collect(),
    }
}

fn bundled() -> Vec<Rule> {
    rules::parse(rules::BUNDLED_RULES, "bundled").unwrap()
}

fn hir(pattern: &str) -> Hir {
    crate::requires::parse(pattern).unwrap()
}

/// Texts each rule's regex matches: samples alone and with context around
/// them, in random case, in the form the rule reads (normalised, and for a
/// shell-view rule with the shell tricks removed).
fn matches(rule: &Rule, rng: &mut Rng) -> Vec<Vec<u8>> {
    let Check::Regex(re) = &rule.check else {
        return Vec::new();
    };
    let tree = hir(re.as_str());
    let mut out = Vec::new();
    for _ in 0..SAMPLES {
        let mut m = Vec::new();
        if !sample(&tree, rng, &mut m) {
            continue;
        }
        let contexts: [(&[u8], &[u8]); 3] = [(b"", b""), (b"a ", b" b"), (b"x/;", b"=1")];
        let (before, after) = contexts[rng.below(contexts.len())];
        let mut raw = [before, &m, after].concat();
        if rng.below(4) == 0 {
            raw.make_ascii_uppercase();
        }
        let (mut base, mut tmp) = (Vec::new(), Vec::new());
        let (text, bytes) = normalize::base(&raw, false, false, &mut base, &mut tmp);
        let text = if rule.view == View::Shell && normalize::has_shell_tricks(&bytes) {
            let mut shell = Vec::new();
            normalize::shell(text, &mut shell);
            shell
        } else {
            text.to_vec()
        };
        if re.is_match(&text) {
            out.push(text);
        }
    }
    out
}

#[test]
fn every_sampled_match_meets_its_rules_needs() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut checked = 0;
    for rule in bundled() {
        for text in matches(&rule, &mut rng) {
            let have = ByteSet::of(&text.to_ascii_lowercase());
            assert!(
                rule.needs.hold(&have, &text),
                "{}: {:?} matches but fails {:?}",
                rule.id,
                String::from_utf8_lossy(&text),
                rule.needs
            );
            checked += 1;
        }
    }
    assert!(checked > 20_000, "only {checked} matches sampled");
}

#[test]
fn every_sampled_match_holds_a_keyword_of_its_rule() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut gaps = Vec::new();
    for rule in bundled() {
        let known = KEYWORD_GAPS.contains(&&*rule.id);
        for text in matches(&rule, &mut rng) {
            let lower = text.to_ascii_lowercase();
            let found = rule
                .keywords
                .iter()
                .any(|k| memchr::memmem::find(&lower, k.as_bytes()).is_some());
            if !found && !known {
                gaps.push(format!("{}: {:?}", rule.id, String::from_utf8_lossy(&text)));
                break;
            }
        }
    }
    assert!(
        gaps.is_empty(),
        "keywords miss matches:\n{}",
        gaps.join("\n")
    );
}
