//! The prefilter's tests: offering per kind, and the two-halves walk.

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
        p.candidates(crate::rules::part::ARG, text, &ByteSet::of(text), |r| {
            v.push(r)
        });
        v.sort_unstable();
        v.dedup();
        v
    };
    assert_eq!(got(b"x select y"), vec![0, 1, 2]);
    assert_eq!(got(b"elec'"), vec![1, 2]);
    assert_eq!(got(b"nothing"), vec![2]);
}

/// Keywords and filler, so that keywords straddle the middle of a text.
fn texts(keywords: &[&str], n: usize) -> Vec<Vec<u8>> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    (0..n)
        .map(|_| {
            let mut text = Vec::new();
            let len = (next() % 120) as usize;
            while text.len() < len {
                let k = next();
                if k % 3 == 0 {
                    let w = keywords[(k >> 8) as usize % keywords.len()];
                    if k & 0x10 == 0 {
                        text.extend_from_slice(w.as_bytes());
                    } else {
                        text.extend_from_slice(w.to_ascii_uppercase().as_bytes());
                    }
                } else {
                    text.push(b" /.-;x_a1"[(k >> 8) as usize % 9]);
                }
            }
            text
        })
        .collect()
}

#[test]
fn each_kind_is_offered_exactly_the_rules_targeting_it_whose_keywords_occur() {
    let rules = crate::rules::parse(crate::rules::BUNDLED_RULES, "bundled").unwrap();
    let keywords: Vec<&str> = rules
        .iter()
        .flat_map(|r| r.keywords.iter().map(String::as_str))
        .collect();
    for (name, view) in [
        ("base", &(|v| v == View::Base) as &dyn Fn(View) -> bool),
        ("shell", &|v| v == View::Shell),
        ("both", &|_| true),
    ] {
        let p = Prefilter::build(&rules, view).unwrap();
        for text in texts(&keywords, 3_000) {
            let lower = text.to_ascii_lowercase();
            let bytes = ByteSet::of(&lower);
            for bit in 0..u16::BITS {
                let kind = 1u16 << bit;
                // What the prefilter of all kinds offered, then filtered
                // by target: the offering before lists per kind.
                let want: Vec<u32> = (0..rules.len() as u32)
                    .filter(|&i| {
                        let r = &rules[i as usize];
                        view(r.view)
                            && r.targets & kind != 0
                            && (r.keywords.is_empty()
                                || r.keywords
                                    .iter()
                                    .any(|k| memchr::memmem::find(&lower, k.as_bytes()).is_some()))
                    })
                    .collect();
                let mut got = Vec::new();
                p.candidates(kind, &text, &bytes, |r| got.push(r));
                got.sort_unstable();
                got.dedup();
                assert_eq!(
                    got,
                    want,
                    "{name} kind {kind} {:?}",
                    String::from_utf8_lossy(&text)
                );
            }
        }
    }
}

#[test]
fn two_halves_find_what_one_walk_finds() {
    let rules = crate::rules::parse(crate::rules::BUNDLED_RULES, "bundled").unwrap();
    let p = Prefilter::build(&rules, |_| true).unwrap();
    let dfa = p.dfa.as_ref().unwrap();
    let keywords: Vec<&str> = rules
        .iter()
        .flat_map(|r| r.keywords.iter().map(String::as_str))
        .collect();
    for text in texts(&keywords, 20_000) {
        for offers in p.by_kind.iter().filter(|o| !o.match_rules.is_empty()) {
            let states = &offers.match_rules[..];
            let mut split = Vec::new();
            dfa.scan(&text, states, &mut |r| split.push(r));
            let mut seen = Seen {
                states: [0; 16],
                n: 0,
                rules: states,
            };
            let mut whole = Vec::new();
            dfa.walk(dfa.start, &text, &mut seen, &mut |r| whole.push(r));
            dfa.offer_all(&seen.states[..seen.n], states, &mut |r| whole.push(r));
            for v in [&mut split, &mut whole] {
                v.sort_unstable();
                v.dedup();
            }
            assert_eq!(split, whole, "{:?}", String::from_utf8_lossy(&text));
        }
    }
}
