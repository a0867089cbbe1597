//! Rule files: their TOML shape, the request parts a rule may target, and the
//! validation that turns a file into checked [`Rule`]s (every error names the
//! rule and what to fix).
//!
//! Must not match requests; the engine does that with what this file builds.

use std::collections::HashSet;
use std::sync::Arc;

use regex::bytes::{Regex, RegexBuilder};
use serde::Deserialize;

use crate::class::{Class, Severity};
use crate::detect::Detector;
use crate::error::SignatureError;
use crate::requires::{self, Needs};

/// The rule file compiled into the binary.
pub const BUNDLED_RULES: &str = include_str!("../rules/bundled.toml");

/// A request part's kind, as a bit in a rule's target mask.
pub(crate) mod part {
    pub const PATH: u16 = 1;
    pub const ARG_NAME: u16 = 1 << 1;
    pub const ARG: u16 = 1 << 2;
    pub const COOKIE_NAME: u16 = 1 << 3;
    pub const COOKIE: u16 = 1 << 4;
    pub const USER_AGENT: u16 = 1 << 5;
    pub const REFERER: u16 = 1 << 6;
    pub const HEADER: u16 = 1 << 7;
    /// A body of a type the engine does not parse, inspected as one text.
    pub const BODY: u16 = 1 << 8;
    pub const FILENAME: u16 = 1 << 9;
    /// A query or form pair whose value holds a URL or whose name is for
    /// running commands, as `name=value`.
    pub const ARG_PAIR: u16 = 1 << 10;
}

/// The parts a rule using the `own_host_lookalike` detector may target: its
/// verdict depends on the request's host, so it must not run on parts the
/// engine remembers as clean from one request to the next.
pub(crate) const HOST_DETECTOR_TARGETS: u16 = part::ARG | part::BODY | part::ARG_PAIR | part::PATH;

/// Target names in rule files and the part kinds each covers.
const TARGETS: &[(&str, u16)] = &[
    ("path", part::PATH),
    ("arg_names", part::ARG_NAME),
    ("args", part::ARG | part::BODY),
    ("cookie_names", part::COOKIE_NAME),
    // Attackers put payloads in cookie names as readily as in values (CRS
    // targets REQUEST_COOKIES_NAMES beside REQUEST_COOKIES everywhere).
    ("cookies", part::COOKIE | part::COOKIE_NAME),
    ("user_agent", part::USER_AGENT),
    ("referer", part::REFERER),
    ("headers", part::USER_AGENT | part::REFERER | part::HEADER),
    ("body", part::BODY),
    ("filenames", part::FILENAME),
    ("arg_pairs", part::ARG_PAIR),
];

/// Which normalised form of a part a rule reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    /// Decoded, lowercased (or left in its case when nothing needed
    /// decoding: rules ignore case), whitespace and SQL block comments
    /// compacted.
    Base,
    /// The base form with shell quoting tricks removed (`w'h'o\ami`, `$u`).
    Shell,
}

/// A checked rule, ready for the engine.
#[derive(Debug)]
pub(crate) struct Rule {
    pub id: Arc<str>,
    pub class: Class,
    pub severity: Severity,
    pub paranoia: u8,
    pub targets: u16,
    pub view: View,
    pub keywords: Vec<String>,
    pub check: Check,
    /// What the part must have for the check to possibly match (see
    /// `requires`); nothing for detectors.
    pub needs: Needs,
    /// A regex that, when it also matches the part, cancels the hit (the
    /// exception a chained CRS rule would express).
    pub unless: Option<Regex>,
}

/// What a rule runs once its prefilter matched.
#[derive(Debug)]
pub(crate) enum Check {
    Regex(Regex),
    Detector(Detector),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rule: Vec<RawRule>,
}

/// One `[[rule]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    /// Unique id: letters, digits, `-`, `_`, `.`.
    id: String,
    /// One of the [`Class`] names.
    class: String,
    /// `critical` (5), `error` (4), `warning` (3), `notice` (2).
    severity: String,
    /// 1..=4; the rule runs when the engine's paranoia is at least this.
    #[serde(default = "default_paranoia")]
    paranoia: u8,
    /// What the rule detects, for people.
    description: String,
    /// Target names (see `TARGETS`).
    targets: Vec<String>,
    /// A regex over the lowercased part (matched case-insensitively).
    regex: Option<String>,
    /// A named tokenizer detector (`sqli`, `xss`).
    detector: Option<String>,
    /// Lowercase literals; the check runs only when one occurs in the part.
    #[serde(default)]
    keywords: Vec<String>,
    /// `base` (default) or `shell`.
    #[serde(default)]
    view: Option<String>,
    /// A regex that cancels the hit when it matches the same part.
    #[serde(default)]
    unless: Option<String>,
}

fn default_paranoia() -> u8 {
    1
}

/// Parses and checks one rule file. `source_name` appears in errors.
pub(crate) fn parse(text: &str, source_name: &str) -> Result<Vec<Rule>, SignatureError> {
    let file: RuleFile = toml::from_str(text).map_err(|e| SignatureError::RuleFile {
        source_name: source_name.to_owned(),
        message: e.to_string(),
    })?;
    let mut seen = HashSet::new();
    let mut rules = Vec::with_capacity(file.rule.len());
    for raw in file.rule {
        let rule = check(raw, source_name)?;
        if !seen.insert(rule.id.clone()) {
            return Err(SignatureError::Rule {
                id: rule.id.to_string(),
                source_name: source_name.to_owned(),
                message: "duplicate id: every rule id must be unique".into(),
            });
        }
        rules.push(rule);
    }
    Ok(rules)
}

fn check(raw: RawRule, source_name: &str) -> Result<Rule, SignatureError> {
    let err = |message: String| SignatureError::Rule {
        id: raw.id.clone(),
        source_name: source_name.to_owned(),
        message,
    };
    if raw.id.is_empty()
        || !raw
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(err(
            "id must be non-empty and use only letters, digits, '-', '_', '.'".into(),
        ));
    }
    let class: Class = raw.class.parse().map_err(|()| {
        err(format!(
            "unknown class {:?}; expected one of {}",
            raw.class,
            Class::ALL.map(Class::as_str).join(", ")
        ))
    })?;
    let severity: Severity = raw.severity.parse().map_err(|()| {
        err(format!(
            "unknown severity {:?}; expected critical, error, warning or notice",
            raw.severity
        ))
    })?;
    if !(1..=4).contains(&raw.paranoia) {
        return Err(err(format!("paranoia {} is not in 1..=4", raw.paranoia)));
    }
    if raw.description.trim().is_empty() {
        return Err(err("description is empty".into()));
    }
    if raw.targets.is_empty() {
        return Err(err("targets is empty".into()));
    }
    let mut targets = 0;
    for t in &raw.targets {
        let bits = TARGETS
            .iter()
            .find(|(name, _)| name == t)
            .map(|&(_, bits)| bits)
            .ok_or_else(|| {
                err(format!(
                    "unknown target {t:?}; expected one of {}",
                    TARGETS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        targets |= bits;
    }
    let view = match raw.view.as_deref() {
        None | Some("base") => View::Base,
        Some("shell") => View::Shell,
        Some(other) => {
            return Err(err(format!(
                "unknown view {other:?}; expected base or shell"
            )));
        }
    };
    for k in &raw.keywords {
        if k.is_empty() {
            return Err(err("a keyword is empty".into()));
        }
        if k.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(err(format!(
                "keyword {k:?} has upper case; keywords match the lowercased request, write them in lower case"
            )));
        }
    }
    let mut needs = Needs::default();
    let check = match (raw.regex, raw.detector) {
        (Some(_), Some(_)) => {
            return Err(err(
                "has both regex and detector; a rule has exactly one check".into(),
            ));
        }
        (None, None) => return Err(err("has neither regex nor detector".into())),
        (Some(pattern), None) => {
            if turns_off_case_folding(&pattern)
                || raw.unless.as_deref().is_some_and(turns_off_case_folding)
            {
                return Err(err(
                    "turns case-insensitivity off ((?-i)); rules match parts in any case, remove the flag".into(),
                ));
            }
            if raw.keywords.is_empty() {
                return Err(err(
                    "a regex rule needs keywords: literals of which one occurs in every match, for the prefilter".into(),
                ));
            }
            let re = compile(&pattern).map_err(|e| err(format!("bad regex: {e}")))?;
            needs = requires::needs(&pattern);
            Check::Regex(re)
        }
        (None, Some(name)) => {
            let detector: Detector = name.parse().map_err(|()| {
                err(format!(
                    "unknown detector {name:?}; expected sqli, xss or own_host_lookalike"
                ))
            })?;
            if detector == Detector::OwnHostLookalike && targets & !HOST_DETECTOR_TARGETS != 0 {
                return Err(err(
                    "the own_host_lookalike detector reads the request's host: target only args, body, arg_pairs or path".into(),
                ));
            }
            Check::Detector(detector)
        }
    };
    let unless = match &raw.unless {
        Some(p) => Some(compile(p).map_err(|e| err(format!("bad unless regex: {e}")))?),
        None => None,
    };
    Ok(Rule {
        unless,
        id: Arc::from(raw.id.as_str()),
        class,
        severity,
        paranoia: raw.paranoia,
        targets,
        view,
        keywords: with_line_breaks(raw.keywords),
        check,
        needs,
    })
}

/// Most spaces in one keyword given line-break variants (2^N variants).
const MAX_KEYWORD_SPACES: usize = 3;

/// The keywords, each with a space also written as a line break: the
/// normalised text turns every whitespace run into one space or one line
/// break, so `union select` in a rule stands for `union\nselect` in a
/// request too. Without the variants, an attacker's line break where the
/// keyword has a space kept the rule from running at all. Likewise a
/// function's name and its parenthesis (`substr(`) also stand for the two
/// apart (`substr (`, `substr\n(`), which SQL, PHP and shells all accept.
fn with_line_breaks(keywords: Vec<String>) -> Vec<String> {
    let mut spaced = Vec::with_capacity(keywords.len());
    for k in keywords {
        let call = k.len() >= 3
            && k.ends_with('(')
            && !k.contains(' ')
            && k.as_bytes()[k.len() - 2].is_ascii_alphanumeric();
        if call {
            spaced.push(format!("{} (", &k[..k.len() - 1]));
        }
        spaced.push(k);
    }
    let mut out = Vec::with_capacity(spaced.len());
    for k in spaced {
        let spaces: Vec<usize> = k.match_indices(' ').map(|(i, _)| i).collect();
        if spaces.is_empty() || spaces.len() > MAX_KEYWORD_SPACES {
            out.push(k);
            continue;
        }
        for mask in 0..1usize << spaces.len() {
            let mut v = k.clone().into_bytes();
            for (bit, &at) in spaces.iter().enumerate() {
                if mask & (1 << bit) != 0 {
                    v[at] = b'\n';
                }
            }
            // INVARIANT: one ASCII byte replaced by another keeps UTF-8 valid.
            let v = String::from_utf8(v).expect("a space replaced by a line break");
            if !out.contains(&v) {
                out.push(v);
            }
        }
    }
    out
}

/// Whether a pattern has a flag group clearing `i` (`(?-i)`, `(?s-i:`): the
/// engine matches plain parts in their original case and relies on every
/// regex ignoring it.
fn turns_off_case_folding(pattern: &str) -> bool {
    let b = pattern.as_bytes();
    memchr::memmem::find_iter(b, b"(?").any(|at| {
        let flags = &b[at + 2..];
        let end = flags
            .iter()
            .position(|c| !(c.is_ascii_alphabetic() || *c == b'-'))
            .unwrap_or(flags.len());
        let flags = &flags[..end];
        flags
            .iter()
            .position(|&c| c == b'-')
            .is_some_and(|dash| flags[dash..].contains(&b'i'))
    })
}

/// Compiles a rule regex: case-insensitive, bytes, ASCII classes (the parts are
/// lowercased bytes, not necessarily UTF-8), with a bounded program size.
fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .unicode(false)
        .size_limit(4 << 20)
        .build()
}
