//! The engine: built once from rule sources and options, then `inspect` per
//! request. Owns the per-view Aho-Corasick prefilters (a check runs only when one
//! of its rule's keywords occurs in the part), the anomaly scoring, and the
//! per-worker [`Scratch`] that keeps the request path allocation-free.
//!
//! Must not lock, block or do I/O in `inspect` (reading rule files happens in
//! the constructors, at start), and must not decide what a verdict leads to.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::byteset::ByteSet;
use crate::class::{Class, Severity};
use crate::decode;
use crate::error::SignatureError;
use crate::memo::{self, CleanMemo};
use crate::normalize;
use crate::parts::{self, Sink};
use crate::prefilter::Prefilter;
use crate::request::Request;
use crate::rules::{self, BUNDLED_RULES, Check, Rule, View, part};

/// How the engine is built. Each field is a setting of the `signatures` config
/// section.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// 1..=4 (default 1): rules with a higher paranoia level are not loaded.
    /// Higher levels catch more and block more legitimate traffic.
    pub paranoia: u8,
    /// Anomaly score at which a request is blocked (default 5: one critical
    /// hit, or a warning plus a notice).
    pub threshold: u32,
    /// Rule ids not to load. Each must name a loaded rule.
    pub disabled: Vec<String>,
    /// Most body bytes inspected, in bytes (default 8 KiB). Anything later in
    /// the body is not seen.
    pub body_bytes: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            paranoia: 1,
            threshold: 5,
            disabled: Vec::new(),
            body_bytes: 8 * 1024,
        }
    }
}

/// A compiled rule set. `Send + Sync`; share it behind an `Arc`.
#[derive(Debug)]
pub struct Engine {
    rules: Vec<Rule>,
    /// Base-view rules, shell-view rules, and both: a part without shell
    /// tricks has identical views, so one pass of the combined index serves.
    views: [Prefilter; 3],
    threshold: u32,
    body_bytes: usize,
    /// Part kinds at least one rule targets: others are not even normalised.
    kinds: u16,
    /// Unique per engine built, so a worker's memo of clean values never
    /// outlives the rules that found them clean.
    id: u64,
    /// Skip a rule whose needed bytes the part lacks (off only in the test
    /// that proves the skipping changes no verdict).
    check_needs: bool,
}

/// Part kinds that repeat from request to request (headers, cookies,
/// parameter names and JSON keys): worth remembering when clean. Parameter
/// values are not: they vary too much, and would push the rest out.
const MEMO_KINDS: u16 = part::USER_AGENT
    | part::REFERER
    | part::HEADER
    | part::COOKIE
    | part::COOKIE_NAME
    | part::ARG_NAME;

// A rule whose verdict depends on the request's host never runs on a part
// the memo could skip.
const _: () = assert!(MEMO_KINDS & rules::HOST_DETECTOR_TARGETS == 0);

/// Marks a memo key as read form-encoded (a bit no part kind uses).
const PLUS_SPACE_KEY: u16 = 1 << 15;

static NEXT_ENGINE_ID: AtomicU64 = AtomicU64::new(1);

/// What the engine found in one request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// The anomaly score: the sum of the hits' severity scores.
    pub score: u32,
    /// `score >= threshold`. Whether to enforce it is the caller's decision.
    pub blocked: bool,
    /// The rules that matched, each once, in the order they matched.
    pub hits: Vec<Hit>,
}

/// One rule that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hit {
    /// The rule's id.
    #[serde(serialize_with = "serialize_str")]
    pub rule_id: Arc<str>,
    /// The rule's class.
    pub class: Class,
    /// The rule's severity.
    pub severity: Severity,
}

/// Reusable per-worker buffers: keep one per worker thread and pass it to every
/// `inspect`, so the request path does not allocate once they have grown.
#[derive(Debug, Default)]
pub struct Scratch {
    base: Vec<u8>,
    tmp: Vec<u8>,
    shell: Vec<u8>,
    body: Vec<u8>,
    decoded: Vec<u8>,
    marks: Marks,
    memo: CleanMemo,
}

/// Per-rule stamps: which rules are candidates for the current part and which
/// already hit in the current request, without clearing arrays per request.
#[derive(Debug, Default)]
struct Marks {
    candidate: Vec<u32>,
    hit: Vec<u32>,
    part_gen: u32,
    request_gen: u32,
    list: Vec<u32>,
}

fn serialize_str<S: serde::Serializer>(s: &Arc<str>, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s)
}

impl Engine {
    /// The bundled rules.
    pub fn bundled(options: EngineOptions) -> Result<Engine, SignatureError> {
        Engine::from_sources(&[("bundled", BUNDLED_RULES)], options)
    }

    /// The bundled rules plus the operator's rules in `extra_rules_toml`.
    pub fn with_rules(
        extra_rules_toml: &str,
        options: EngineOptions,
    ) -> Result<Engine, SignatureError> {
        Engine::from_sources(
            &[("bundled", BUNDLED_RULES), ("extra", extra_rules_toml)],
            options,
        )
    }

    /// The bundled rules plus the operator's rule files.
    pub fn with_rule_files(
        paths: &[&Path],
        options: EngineOptions,
    ) -> Result<Engine, SignatureError> {
        let mut texts = Vec::with_capacity(paths.len());
        for p in paths {
            let text = std::fs::read_to_string(p).map_err(|source| SignatureError::Io {
                path: p.to_path_buf(),
                source,
            })?;
            texts.push((p.display().to_string(), text));
        }
        let mut sources = vec![("bundled", BUNDLED_RULES)];
        sources.extend(texts.iter().map(|(n, t)| (n.as_str(), t.as_str())));
        Engine::from_sources(&sources, options)
    }

    /// Rules from named sources (`(name, toml)`; the name appears in errors),
    /// without the bundled file unless it is one of them.
    pub fn from_sources(
        sources: &[(&str, &str)],
        options: EngineOptions,
    ) -> Result<Engine, SignatureError> {
        if !(1..=4).contains(&options.paranoia) {
            return Err(SignatureError::Option {
                key: "paranoia",
                message: format!("{} is not in 1..=4", options.paranoia),
            });
        }
        if options.threshold == 0 {
            return Err(SignatureError::Option {
                key: "threshold",
                message: "0 would block every request; use at least 1".into(),
            });
        }
        let mut all: Vec<Rule> = Vec::new();
        for (name, text) in sources {
            for rule in rules::parse(text, name)? {
                if all.iter().any(|r| r.id == rule.id) {
                    return Err(SignatureError::Rule {
                        id: rule.id.to_string(),
                        source_name: (*name).to_owned(),
                        message: "duplicate id: a rule with this id is already loaded".into(),
                    });
                }
                all.push(rule);
            }
        }
        for d in &options.disabled {
            if !all.iter().any(|r| *r.id == **d) {
                return Err(SignatureError::UnknownDisabled(d.clone()));
            }
        }
        let rules: Vec<Rule> = all
            .into_iter()
            .filter(|r| r.paranoia <= options.paranoia)
            .filter(|r| !options.disabled.iter().any(|d| *r.id == **d))
            .collect();
        let views = [
            Prefilter::build(&rules, |v| v == View::Base)?,
            Prefilter::build(&rules, |v| v == View::Shell)?,
            Prefilter::build(&rules, |_| true)?,
        ];
        let kinds = views[0].kinds | views[1].kinds;
        Ok(Engine {
            rules,
            views,
            threshold: options.threshold,
            body_bytes: options.body_bytes,
            kinds,
            id: NEXT_ENGINE_ID.fetch_add(1, Ordering::Relaxed),
            check_needs: true,
        })
    }

    /// The same engine, running every candidate rule's regex even on parts
    /// that lack the bytes it needs: the reference the needs are tested
    /// against.
    #[cfg(test)]
    pub(crate) fn without_needs(mut self) -> Engine {
        self.check_needs = false;
        self.id = NEXT_ENGINE_ID.fetch_add(1, Ordering::Relaxed);
        self
    }

    /// How many rules are loaded (after paranoia and disabling).
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// The ids of the loaded rules.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| &*r.id)
    }

    /// Inspects one request. Does not allocate on a request without hits once
    /// `scratch` has grown to the largest part seen.
    pub fn inspect(&self, req: &Request<'_>, scratch: &mut Scratch) -> Verdict {
        let Scratch {
            base,
            tmp,
            shell,
            body,
            decoded,
            marks,
            memo,
        } = scratch;
        marks.start_request(self.rules.len());
        let mut inspection = Inspection {
            engine: self,
            req,
            base,
            tmp,
            shell,
            marks,
            memo,
            decoded,
            verdict: Verdict::default(),
        };
        parts::walk(req, self.body_bytes, body, &mut inspection);
        let mut verdict = inspection.verdict;
        verdict.blocked = verdict.score >= self.threshold;
        verdict
    }
}

impl Marks {
    fn start_request(&mut self, rules: usize) {
        if self.hit.len() != rules {
            self.hit = vec![0; rules];
            self.candidate = vec![0; rules];
        }
        self.request_gen = self.request_gen.wrapping_add(1);
        if self.request_gen == 0 {
            self.hit.fill(0);
            self.request_gen = 1;
        }
    }

    fn start_part(&mut self) {
        self.list.clear();
        self.part_gen = self.part_gen.wrapping_add(1);
        if self.part_gen == 0 {
            self.candidate.fill(0);
            self.part_gen = 1;
        }
    }

    /// Makes `rule` (which targets the part's kind: the prefilter offers no
    /// other) a candidate for the current part, once, unless it already hit
    /// in this request or needs a byte the part lacks.
    fn offer(&mut self, rule: u32, r: &Rule, bytes: Option<&ByteSet>) {
        let i = rule as usize;
        if self.candidate[i] != self.part_gen {
            self.candidate[i] = self.part_gen;
            if self.hit[i] != self.request_gen && bytes.is_none_or(|b| r.needs.bytes_held(b)) {
                self.list.push(rule);
            }
        }
    }
}

/// One request's inspection: the engine, the scratch buffers and the verdict so
/// far. Receives the request's parts.
struct Inspection<'e, 's, 'r> {
    engine: &'e Engine,
    /// The request, for detectors that read more than the part (its host).
    req: &'r Request<'r>,
    base: &'s mut Vec<u8>,
    tmp: &'s mut Vec<u8>,
    shell: &'s mut Vec<u8>,
    marks: &'s mut Marks,
    memo: &'s mut CleanMemo,
    decoded: &'s mut Vec<u8>,
    verdict: Verdict,
}

impl Sink for Inspection<'_, '_, '_> {
    fn part(&mut self, kind: u16, raw: &[u8], plus_space: bool) {
        let engine = self.engine;
        if raw.is_empty() || engine.kinds & kind == 0 {
            return;
        }
        let memo = kind & MEMO_KINDS != 0 && (memo::MIN_LEN..=memo::MAX_LEN).contains(&raw.len());
        // The same bytes read with `+` as a space are another text: a JSON key
        // `1+union+select` is clean, the query name is not.
        let key = kind | if plus_space { PLUS_SPACE_KEY } else { 0 };
        if memo && self.memo.contains(engine.id, key, raw) {
            return;
        }
        self.inspect_part(kind, raw, plus_space);
        if kind & (part::ARG | part::COOKIE) != 0
            && decode::base64_text(raw, self.tmp, self.decoded)
        {
            let text = std::mem::take(self.decoded);
            self.inspect_part(kind, &text, false);
            *self.decoded = text;
        }
        // Only a value every rule ran on is known clean: after a hit, rules
        // that already hit are skipped on later parts.
        if memo && self.verdict.hits.is_empty() {
            self.memo.insert(engine.id, key, raw);
        }
    }
}

impl Inspection<'_, '_, '_> {
    fn inspect_part(&mut self, kind: u16, raw: &[u8], plus_space: bool) {
        let engine = self.engine;
        // A `+` in a path is literal to the server, but attackers use it as a
        // space there too; reading it as one only widens what rules see.
        let path = kind == part::PATH;
        let (text, bytes) = normalize::base(raw, plus_space || path, path, self.base, self.tmp);
        let (marks, verdict, req) = (&mut *self.marks, &mut self.verdict, self.req);
        if !normalize::has_shell_tricks(&bytes) {
            let both = &engine.views[2];
            if both.kinds & kind != 0 {
                run(engine, both, kind, text, &bytes, req, marks, verdict);
            }
            return;
        }
        let base_view = &engine.views[0];
        if base_view.kinds & kind != 0 {
            run(engine, base_view, kind, text, &bytes, req, marks, verdict);
        }
        let shell_view = &engine.views[1];
        if shell_view.kinds & kind != 0 {
            normalize::shell(text, self.shell);
            // The shell form only drops bytes: the base form's set covers it.
            run(
                engine, shell_view, kind, self.shell, &bytes, req, marks, verdict,
            );
        }
    }
}

/// Runs one view's rules over one normalised part whose bytes are `bytes`.
#[allow(clippy::too_many_arguments)]
fn run(
    engine: &Engine,
    view: &Prefilter,
    kind: u16,
    text: &[u8],
    bytes: &ByteSet,
    req: &Request<'_>,
    marks: &mut Marks,
    verdict: &mut Verdict,
) {
    marks.start_part();
    let have = engine.check_needs.then_some(bytes);
    view.candidates(kind, text, bytes, |r| {
        marks.offer(r, &engine.rules[r as usize], have);
    });
    // Regexes before tokenizer detectors: a detector often only confirms a
    // class a regex already found, and is then skipped.
    for detectors in [false, true] {
        for &r in &marks.list {
            let rule = &engine.rules[r as usize];
            if matches!(rule.check, Check::Detector(_)) != detectors {
                continue;
            }
            // Once a request is blocked, another rule of a class already
            // found changes neither the block nor the classes reported.
            if verdict.score >= engine.threshold
                && verdict.hits.iter().any(|h| h.class == rule.class)
            {
                continue;
            }
            let matched = match &rule.check {
                Check::Regex(re) => {
                    (!engine.check_needs || rule.needs.placed(text)) && re.is_match(text)
                }
                Check::Detector(d) => d.detect(text, req),
            } && !rule.unless.as_ref().is_some_and(|u| u.is_match(text));
            if matched {
                marks.hit[r as usize] = marks.request_gen;
                verdict.score += rule.severity.score();
                verdict.hits.push(Hit {
                    rule_id: rule.id.clone(),
                    class: rule.class,
                    severity: rule.severity,
                });
            }
        }
    }
}
