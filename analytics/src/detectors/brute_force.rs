//! `brute_force`: many failed logins on one username — from one address, or from
//! several addresses at once. Owns the per-username failure table (keyed by the
//! salted username hash, never the name), bounded in size.

use std::net::IpAddr;

use hashbrown::HashMap;
use palisade_models::config::BruteForceConfig;
use palisade_models::{FindingClient, FindingKind, Severity, UsernameHash};

use super::credential_stuffing::Attempt;
use super::{Ctx, Report, confidence, cooldown_s, make_room};
use crate::client::{ClientRef, Clients, Reported};
use crate::evidence;
use crate::sketch::{Distinct, Pair, hash_ip};

pub(crate) const MAX_USERNAMES: usize = 100_000;
const MAX_MEMBERS: usize = 64;

#[derive(Debug, Default)]
struct Target {
    window_start_ms: u64,
    failures: Pair<u32>,
    addresses: Pair<Distinct<2>>,
    members: Vec<IpAddr>,
}

/// Failures per username.
#[derive(Debug, Default)]
pub struct Usernames {
    map: HashMap<UsernameHash, Target>,
}

impl Usernames {
    /// Usernames with failures counted.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

pub fn check(
    cfg: &BruteForceConfig,
    ctx: &mut Ctx<'_>,
    clients: &mut Clients,
    users: &mut Usernames,
    a: &Attempt,
    endpoint: &str,
) {
    if !cfg.enabled || !a.failed {
        return;
    }
    // One address hammering at most two usernames.
    if let Some(c) = clients.get_mut(ClientRef::Ip(a.ip)) {
        let failed = c.total(|k| k.login_failed);
        let ok = c.total(|k| k.login_ok);
        let usernames = c.failed_usernames.estimate();
        if failed >= cfg.client_failures && usernames <= 2 && ok * 5 <= failed {
            report(cfg, ctx, clients, a.ip, endpoint, failed, None);
        }
    }
    let Some(u) = a.username else { return };
    let window = ctx.window_ms;
    if users.map.len() >= MAX_USERNAMES && !users.map.contains_key(&u) {
        let now = ctx.now_ms;
        make_room(
            &mut users.map,
            MAX_USERNAMES,
            |t| now >= t.window_start_ms + 2 * window,
            |t| t.failures.total(),
        );
    }
    let t = users.map.entry(u).or_default();
    if ctx.now_ms >= t.window_start_ms + window {
        let skipped = ctx.now_ms >= t.window_start_ms + 2 * window;
        t.failures.roll(skipped);
        t.addresses.roll(skipped);
        t.window_start_ms = ctx.now_ms - ctx.now_ms % window;
        if skipped {
            t.members.clear();
        }
    }
    t.failures.cur += 1;
    let ip_hash = hash_ip(a.ip);
    t.addresses.cur.insert(ip_hash);
    if t.members.len() < MAX_MEMBERS && !t.members.contains(&a.ip) {
        t.members.push(a.ip);
    }
    let failures = t.failures.total();
    let addresses = t.addresses.estimate();
    if failures >= cfg.username_failures && addresses >= cfg.username_clients {
        let members = t.members.clone();
        for ip in members {
            report(cfg, ctx, clients, ip, endpoint, failures, Some(addresses));
        }
    }
}

fn report(
    cfg: &BruteForceConfig,
    ctx: &mut Ctx<'_>,
    clients: &mut Clients,
    ip: IpAddr,
    endpoint: &str,
    failures: u32,
    spread: Option<u32>,
) {
    let cooldown = cooldown_s(ctx);
    let Some(c) = clients.get_mut(ClientRef::Ip(ip)) else {
        return;
    };
    // An address that also logs in successfully is a user, not an attacker.
    let ok = c.total(|k| k.login_ok);
    let own_failures = c.total(|k| k.login_failed);
    if own_failures == 0 || ok * 5 > own_failures {
        return;
    }
    if !c.should_report(Reported::BruteForce, (ctx.now_ms / 1000) as u32, cooldown) {
        return;
    }
    let (summary, evidence, conf) = match spread {
        None => (
            format!("{ip} failed {failures} logins on one username"),
            evidence![
                "failed_logins" => failures,
                "successful_logins" => ok,
                "threshold" => cfg.client_failures,
            ],
            confidence(0.7, f64::from(failures), f64::from(cfg.client_failures)),
        ),
        Some(addresses) => (
            format!(
                "one username failed {failures} logins from {addresses} addresses, {ip} among them"
            ),
            evidence![
                "username_failures" => failures,
                "addresses" => addresses,
                "failed_logins_from_this_address" => own_failures,
                "threshold" => cfg.username_failures,
            ],
            confidence(0.6, f64::from(failures), f64::from(cfg.username_failures)),
        ),
    };
    ctx.report(Report {
        kind: FindingKind::BruteForce,
        severity: Severity::High,
        confidence: conf,
        client: FindingClient {
            ip: Some(ip),
            ..FindingClient::default()
        },
        endpoint: Some(endpoint.into()),
        window_start_ms: ctx.client_window_start(),
        summary,
        evidence,
    });
}
