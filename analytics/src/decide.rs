//! Owns decisions: turning findings into blocks by the `[decisions]` policy (kind
//! and severity to alert or block, with a scope and a TTL that grows for repeat
//! offenders, as fail2ban's and CrowdSec's escalation), never blocking allowlisted
//! addresses or principals, and never blocking a scope that is already blocked.
//!
//! Must not publish anything itself: it returns `NewBlock`s for the caller to
//! persist and publish through the one block writer.

use std::net::IpAddr;

use hashbrown::HashMap;

use palisade_models::config::DecisionsConfig;
use palisade_models::{
    Allowlist, Block, BlockOrigin, BlockScope, Finding, FindingKind, NewBlock, Severity,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScopeChoice {
    Client,
    Ip,
    Subject,
    ApiKey,
}

#[derive(Debug)]
struct Rule {
    kind: Option<FindingKind>,
    min_severity: Severity,
    block: bool,
    scope: ScopeChoice,
    ttl_ms: u64,
    escalation: f64,
    max_ttl_ms: u64,
}

/// The decision policy and what it remembers (active blocks, past offences).
#[derive(Debug)]
pub struct Decider {
    rules: Vec<Rule>,
    allow: Allowlist,
    offence_memory_ms: u64,
    /// Offences per scope: how many, and when the last one was.
    offences: HashMap<BlockScope, (u32, u64)>,
    /// Analytics blocks in force, by scope, and when they end.
    active: HashMap<BlockScope, u64>,
    /// Most blocks in force at once (`decisions.max_blocks`).
    max_blocks: usize,
    /// Most scopes whose offences are remembered.
    max_offences: usize,
    /// Blocks not made because `max_blocks` were in force.
    withheld: u64,
    /// Whether the table was full at the last decision (one warning per episode).
    full: bool,
}

/// Past offences are remembered for this many scopes per block allowed.
const OFFENCES_PER_BLOCK: usize = 10;

impl Decider {
    /// Builds the policy from a validated config.
    pub fn new(cfg: &DecisionsConfig) -> Self {
        let rules = cfg
            .rule
            .iter()
            .map(|r| Rule {
                kind: r.kind(),
                min_severity: *r.min_severity.get(),
                block: r.blocks(),
                scope: match r.scope.as_str() {
                    "ip" => ScopeChoice::Ip,
                    "subject" => ScopeChoice::Subject,
                    "api_key" => ScopeChoice::ApiKey,
                    _ => ScopeChoice::Client,
                },
                ttl_ms: r.ttl.duration().as_millis() as u64,
                escalation: r.escalation,
                max_ttl_ms: r.max_ttl.duration().as_millis() as u64,
            })
            .collect();
        Self {
            rules,
            allow: Allowlist::new(cfg),
            offence_memory_ms: cfg.offence_memory.duration().as_millis() as u64,
            offences: HashMap::new(),
            active: HashMap::new(),
            max_blocks: cfg.max_blocks.max(1),
            max_offences: cfg.max_blocks.max(1).saturating_mul(OFFENCES_PER_BLOCK),
            withheld: 0,
            full: false,
        }
    }

    /// Blocks not made because `decisions.max_blocks` were in force.
    pub fn withheld(&self) -> u64 {
        self.withheld
    }

    /// Learns the blocks already in force (and past analytics offences) from the
    /// store, so a restart neither duplicates blocks nor forgets repeat offenders.
    pub fn seed(&mut self, blocks: &[Block], now_ms: u64) {
        for b in blocks.iter().filter(|b| b.origin == BlockOrigin::Analytics) {
            if b.is_active(now_ms) {
                self.active
                    .insert(b.scope.clone(), b.expires_ms.unwrap_or(u64::MAX));
            }
            if b.created_ms + self.offence_memory_ms > now_ms {
                let e = self.offences.entry(b.scope.clone()).or_insert((0, 0));
                e.0 += 1;
                e.1 = e.1.max(b.created_ms);
            }
        }
    }

    /// Whether a client is on an allowlist.
    pub fn allowed(
        &self,
        ip: Option<IpAddr>,
        subject: Option<&str>,
        api_key: Option<&str>,
    ) -> bool {
        self.allow.allows(ip, subject, api_key)
    }

    /// The block a finding leads to, if any.
    pub fn decide(&mut self, f: &Finding, now_ms: u64) -> Option<NewBlock> {
        let rule = self
            .rules
            .iter()
            .find(|r| r.kind.is_none_or(|k| k == f.kind) && f.severity >= r.min_severity)?;
        if !rule.block || f.client.is_empty() {
            return None;
        }
        let c = &f.client;
        if self.allowed(c.ip, c.subject.as_deref(), c.api_key_id.as_deref()) {
            return None;
        }
        let scope = match rule.scope {
            ScopeChoice::Client => c
                .subject
                .as_ref()
                .map(|s| BlockScope::Subject(s.clone()))
                .or_else(|| c.api_key_id.as_ref().map(|k| BlockScope::ApiKey(k.clone())))
                .or_else(|| c.ip.map(BlockScope::Ip)),
            ScopeChoice::Ip => c.ip.map(BlockScope::Ip),
            ScopeChoice::Subject => c.subject.as_ref().map(|s| BlockScope::Subject(s.clone())),
            ScopeChoice::ApiKey => c.api_key_id.as_ref().map(|k| BlockScope::ApiKey(k.clone())),
        }?;
        if self.active.get(&scope).is_some_and(|&end| end > now_ms) {
            return None;
        }
        // Expired blocks leave at `sweep` (every tick), not here: at the cap
        // every finding would otherwise pay a pass over the whole table.
        if self.active.len() >= self.max_blocks {
            self.withheld += 1;
            if !self.full {
                self.full = true;
                tracing::warn!(
                    max_blocks = self.max_blocks,
                    "analytics block table full: findings are reported but block nobody until blocks expire; \
                     raise decisions.max_blocks, or block the attacking networks by CIDR in [[blocks]]"
                );
            }
            return None;
        }
        self.full = false;
        let memory = self.offence_memory_ms;
        let prior = match self.offences.get(&scope) {
            Some(&(n, last)) if last + memory > now_ms => n,
            _ => 0,
        };
        let ttl = (rule.ttl_ms as f64 * rule.escalation.powi(prior as i32))
            .min(rule.max_ttl_ms as f64) as u64;
        let ttl = ttl.max(1);
        if self.offences.len() >= self.max_offences && !self.offences.contains_key(&scope) {
            self.forget_offences(now_ms);
        }
        self.offences.insert(scope.clone(), (prior + 1, now_ms));
        self.active.insert(scope.clone(), now_ms + ttl);
        let mut reason = format!("{} ({}): {}", f.kind, f.severity, f.summary);
        if reason.len() > 300 {
            let mut cut = 300;
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            reason.truncate(cut);
        }
        Some(NewBlock {
            scope,
            reason: reason.into(),
            origin: BlockOrigin::Analytics,
            created_ms: now_ms,
            expires_ms: Some(now_ms + ttl),
            finding: Some(f.id),
        })
    }

    /// Makes room in a full offence table: forgets the offences past memory,
    /// then the oldest until half the cap is free, so the next pass is half a
    /// cap of insertions away (amortised O(1) per offence). The most recent
    /// offenders, whose next offence escalates soonest, are kept.
    fn forget_offences(&mut self, now_ms: u64) {
        let memory = self.offence_memory_ms;
        self.offences.retain(|_, (_, last)| *last + memory > now_ms);
        let keep = self.max_offences / 2;
        if self.offences.len() <= keep {
            return;
        }
        let mut lasts: Vec<u64> = self.offences.values().map(|&(_, last)| last).collect();
        let cut = lasts.len() - keep;
        let (_, &mut oldest_kept, _) = lasts.select_nth_unstable(cut);
        self.offences.retain(|_, (_, last)| *last >= oldest_kept);
        // Offences at the cut's instant all stay, so ties can keep more than
        // `keep`; if they still fill the table (a flood within one
        // millisecond), that instant goes too.
        if self.offences.len() >= self.max_offences {
            self.offences.retain(|_, (_, last)| *last > oldest_kept);
        }
    }

    /// Forgets expired blocks and old offences.
    pub fn sweep(&mut self, now_ms: u64) {
        self.active.retain(|_, end| *end > now_ms);
        let memory = self.offence_memory_ms;
        self.offences.retain(|_, (_, last)| *last + memory > now_ms);
    }

    /// Forgets that a scope is blocked (an operator lifted it).
    pub fn lifted(&mut self, scope: &BlockScope) {
        self.active.remove(scope);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_models::{Config, FindingClient, FindingId};

    fn decider(extra: &str) -> Decider {
        let cfg = Config::parse(&format!(
            "[upstream]\nurl = \"http://127.0.0.1:1\"\n[routes]\nunknown = \"allow\"\n{extra}"
        ))
        .unwrap();
        Decider::new(&cfg.decisions)
    }

    fn finding(kind: FindingKind, severity: Severity, client: FindingClient) -> Finding {
        Finding {
            instance: None,
            id: FindingId::new(1, 2),
            kind,
            severity,
            confidence: 0.9,
            client,
            endpoint: None,
            window_start_ms: 0,
            window_end_ms: 0,
            summary: "s".into(),
            evidence: serde_json::Map::new(),
            request: None,
        }
    }

    fn ip(s: &str) -> FindingClient {
        FindingClient {
            ip: Some(s.parse().unwrap()),
            ..FindingClient::default()
        }
    }

    #[test]
    fn default_policy_blocks_high_and_escalates_repeat_offenders() {
        let mut d = decider("");
        let f = finding(FindingKind::Probing, Severity::High, ip("10.0.0.1"));
        let b = d.decide(&f, 0).unwrap();
        assert_eq!(b.scope, BlockScope::Ip("10.0.0.1".parse().unwrap()));
        assert_eq!(b.expires_ms, Some(600_000));
        assert_eq!(b.finding, Some(f.id));
        // Still blocked: no second block.
        assert!(d.decide(&f, 1_000).is_none());
        // After it ends, the next offence lasts four times longer.
        let b = d.decide(&f, 700_000).unwrap();
        assert_eq!(b.expires_ms, Some(700_000 + 2_400_000));
        // Medium findings are alerts only.
        let m = finding(FindingKind::Probing, Severity::Medium, ip("10.0.0.2"));
        assert!(d.decide(&m, 0).is_none());
    }

    #[test]
    fn past_max_blocks_a_finding_blocks_nobody_until_blocks_expire() {
        let mut d = decider("[decisions]\nmax_blocks = 2\n");
        let high = |a: &str| finding(FindingKind::Probing, Severity::High, ip(a));
        assert!(d.decide(&high("10.0.0.1"), 0).is_some());
        assert!(d.decide(&high("10.0.0.2"), 0).is_some());
        assert!(
            d.decide(&high("10.0.0.3"), 0).is_none(),
            "the table is full"
        );
        assert!(d.decide(&high("10.0.0.4"), 1).is_none());
        assert_eq!(d.withheld(), 2);
        // The tick's sweep lets the expired blocks go; blocking resumes.
        d.sweep(600_000);
        let b = d.decide(&high("10.0.0.3"), 600_000).unwrap();
        assert_eq!(b.scope, BlockScope::Ip("10.0.0.3".parse().unwrap()));
        assert_eq!(d.withheld(), 2);
    }

    #[test]
    fn a_flood_of_offenders_keeps_the_offence_table_bounded_and_the_latest() {
        // Two blocks at once, so offences for 20 scopes; each block (10m) has
        // ended before the next address offends, all 100 within the 24h
        // memory, so only the cap can forget one.
        let mut d = decider("[decisions]\nmax_blocks = 2\n");
        let step = 700_000;
        let addr = |i: u64| format!("10.0.{}.{}", i / 250, i % 250);
        for i in 0..100u64 {
            d.sweep(i * step);
            let f = finding(FindingKind::Probing, Severity::High, ip(&addr(i)));
            assert!(d.decide(&f, i * step).is_some(), "offender {i}");
            assert!(d.offences.len() <= 20, "{} offences kept", d.offences.len());
        }
        // The latest offender still escalates; the first is forgotten.
        let now = 100 * step;
        d.sweep(now);
        let last = finding(FindingKind::Probing, Severity::High, ip(&addr(99)));
        let b = d.decide(&last, now).unwrap();
        assert_eq!(b.expires_ms, Some(now + 2_400_000), "a repeat: 4 x 10m");
        let first = finding(FindingKind::Probing, Severity::High, ip(&addr(0)));
        let b = d.decide(&first, now).unwrap();
        assert_eq!(
            b.expires_ms,
            Some(now + 600_000),
            "forgotten: a first offence"
        );
    }

    #[test]
    fn client_scope_prefers_the_principal_and_allowlists_win() {
        let mut d =
            decider("[decisions]\nallow_cidrs = [\"192.168.0.0/16\"]\nallow_subjects = [\"ops\"]");
        let mut who = ip("10.0.0.1");
        who.subject = Some("mallory".into());
        let b = d
            .decide(
                &finding(FindingKind::BolaEnumeration, Severity::High, who),
                0,
            )
            .unwrap();
        assert_eq!(b.scope, BlockScope::Subject("mallory".into()));
        assert!(
            d.decide(
                &finding(FindingKind::Probing, Severity::Critical, ip("192.168.4.4")),
                0
            )
            .is_none()
        );
        let mut ops = ip("10.9.9.9");
        ops.subject = Some("ops".into());
        assert!(
            d.decide(&finding(FindingKind::Scraping, Severity::High, ops), 0)
                .is_none()
        );
    }

    #[test]
    fn rules_match_kind_first_and_can_alert_only() {
        let mut d = decider(
            "[[decisions.rule]]\nkind = \"scraping\"\naction = \"alert\"\n[[decisions.rule]]\nkind = \"*\"\nmin_severity = \"medium\"\nttl = \"1m\"\nscope = \"ip\"",
        );
        assert!(
            d.decide(
                &finding(FindingKind::Scraping, Severity::Critical, ip("10.0.0.1")),
                0
            )
            .is_none()
        );
        let b = d
            .decide(
                &finding(FindingKind::Probing, Severity::Medium, ip("10.0.0.1")),
                0,
            )
            .unwrap();
        assert_eq!(b.expires_ms, Some(60_000));
        // Endpoint-wide findings have nobody to block.
        assert!(
            d.decide(
                &finding(
                    FindingKind::ErrorBurst,
                    Severity::High,
                    FindingClient::default()
                ),
                0
            )
            .is_none()
        );
    }

    #[test]
    fn seeding_restores_active_blocks_and_offences() {
        let mut d = decider("");
        let scope = BlockScope::Ip("10.0.0.1".parse().unwrap());
        let block = NewBlock {
            scope: scope.clone(),
            reason: "r".into(),
            origin: BlockOrigin::Analytics,
            created_ms: 0,
            expires_ms: Some(600_000),
            finding: None,
        }
        .into_block(7);
        d.seed(&[block], 1_000);
        let f = finding(FindingKind::Probing, Severity::High, ip("10.0.0.1"));
        assert!(d.decide(&f, 1_000).is_none(), "already blocked");
        let b = d.decide(&f, 600_000).unwrap();
        assert_eq!(b.expires_ms, Some(600_000 + 2_400_000), "second offence");
    }
}
