//! Owns the `[decisions]` section: what a finding leads to (a block of the
//! client, its address, subject or API key, or only an alert), for how long, and
//! which networks analytics never blocks.

use serde::Deserialize;

use super::Problems;
use super::value::{Dur, Network, Parsed, dur};
use crate::finding::{FindingKind, Severity};

/// `[decisions]`: what findings lead to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionsConfig {
    /// Addresses and networks never blocked by analytics. Default: [].
    #[serde(default)]
    pub allow_cidrs: Vec<Parsed<Network>>,
    /// JWT subjects never blocked by analytics. Default: [].
    #[serde(default)]
    pub allow_subjects: Vec<String>,
    /// API key ids never blocked by analytics. Default: [].
    #[serde(default)]
    pub allow_api_keys: Vec<String>,
    /// A repeat offence counts against a client for this long. Default: 24h.
    #[serde(default = "default_offence_memory")]
    pub offence_memory: Dur,
    /// Analytics blocks in force at once, at most. At the cap a finding a rule
    /// would block on is still reported and forwarded, but blocks nothing
    /// (counted, `palisade_analytics_blocks_withheld_total`, with a warning)
    /// until blocks expire: a flood of fresh addresses must not grow the block
    /// table, the store and the proxy's memory without end. Past offences are
    /// remembered for ten times as many scopes, the most recent kept.
    /// Default: 100000.
    #[serde(default = "default_max_blocks")]
    pub max_blocks: usize,
    /// Rules, first match wins; a finding no rule matches is an alert only.
    /// Default: one rule blocking the client of every high or critical finding for
    /// 10m, four times longer for each repeat, at most 24h.
    #[serde(default = "default_rules")]
    pub rule: Vec<DecisionRule>,
}

fn default_offence_memory() -> Dur {
    dur("24h")
}

fn default_max_blocks() -> usize {
    100_000
}

fn default_rules() -> Vec<DecisionRule> {
    vec![DecisionRule::default()]
}

impl Default for DecisionsConfig {
    fn default() -> Self {
        Self {
            allow_cidrs: Vec::new(),
            allow_subjects: Vec::new(),
            allow_api_keys: Vec::new(),
            offence_memory: default_offence_memory(),
            max_blocks: default_max_blocks(),
            rule: default_rules(),
        }
    }
}

/// `[[decisions.rule]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRule {
    /// A finding kind (`bola_enumeration`, …) or "*" for any. Default: "*".
    #[serde(default = "any_kind")]
    pub kind: String,
    /// Lowest severity the rule applies to. Default: "high".
    #[serde(default = "default_min_severity")]
    pub min_severity: Parsed<Severity>,
    /// "block" or "alert". Default: "block".
    #[serde(default = "default_action")]
    pub action: String,
    /// Whom to block: "client" (the finding's principal: subject, else API key,
    /// else address), "ip", "subject" or "api_key". Default: "client".
    #[serde(default = "default_scope")]
    pub scope: String,
    /// First block's length. Default: 10m.
    #[serde(default = "default_ttl")]
    pub ttl: Dur,
    /// Each repeat offence multiplies the length by this. Default: 4.
    #[serde(default = "default_escalation")]
    pub escalation: f64,
    /// Longest block. Default: 24h.
    #[serde(default = "default_max_ttl")]
    pub max_ttl: Dur,
}

fn any_kind() -> String {
    "*".into()
}
fn default_min_severity() -> Parsed<Severity> {
    Parsed::new("high")
}
fn default_action() -> String {
    "block".into()
}
fn default_scope() -> String {
    "client".into()
}
fn default_ttl() -> Dur {
    dur("10m")
}
fn default_escalation() -> f64 {
    4.0
}
fn default_max_ttl() -> Dur {
    dur("24h")
}

impl Default for DecisionRule {
    fn default() -> Self {
        Self {
            kind: any_kind(),
            min_severity: default_min_severity(),
            action: default_action(),
            scope: default_scope(),
            ttl: default_ttl(),
            escalation: default_escalation(),
            max_ttl: default_max_ttl(),
        }
    }
}

impl DecisionRule {
    /// The kind this rule is limited to; None for "*". Valid once validated.
    pub fn kind(&self) -> Option<FindingKind> {
        self.kind.parse().ok()
    }

    /// True for "block", false for "alert".
    pub fn blocks(&self) -> bool {
        self.action == "block"
    }
}

impl DecisionsConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        for (i, c) in self.allow_cidrs.iter().enumerate() {
            c.check(
                format!("decisions.allow_cidrs[{i}]"),
                "an address or a network such as 10.0.0.0/8",
                p,
            );
        }
        self.offence_memory
            .check("decisions.offence_memory", "a duration such as 24h", p);
        if self.max_blocks == 0 {
            p.push(
                "decisions.max_blocks",
                "must be more than zero",
                "to stop analytics blocking, make the rules alert (action = \"alert\")",
            );
        }
        for (i, r) in self.rule.iter().enumerate() {
            let key = format!("decisions.rule[{i}]");
            if let Some(Err(e)) = (r.kind != "*").then(|| r.kind.parse::<FindingKind>()) {
                p.push(format!("{key}.kind"), e, "or \"*\" for every kind");
            }
            r.min_severity.check(
                format!("{key}.min_severity"),
                "one of info, low, medium, high, critical",
                p,
            );
            if !matches!(r.action.as_str(), "block" | "alert") {
                p.push(
                    format!("{key}.action"),
                    format!("unknown action `{}`", r.action),
                    "\"block\" or \"alert\"",
                );
            }
            if !matches!(r.scope.as_str(), "client" | "ip" | "subject" | "api_key") {
                p.push(
                    format!("{key}.scope"),
                    format!("unknown scope `{}`", r.scope),
                    "one of client, ip, subject, api_key",
                );
            }
            r.ttl
                .check(format!("{key}.ttl"), "a duration such as 10m", p);
            r.max_ttl
                .check(format!("{key}.max_ttl"), "a duration such as 24h", p);
            if !(r.escalation >= 1.0 && r.escalation.is_finite()) {
                p.push(
                    format!("{key}.escalation"),
                    format!("{} is below 1", r.escalation),
                    "1 keeps every block the same length; 4 quadruples it per repeat",
                );
            }
        }
    }
}
