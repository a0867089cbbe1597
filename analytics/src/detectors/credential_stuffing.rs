//! `credential_stuffing`: failed logins over many usernames — from one address, or
//! as a campaign spread over many addresses that share one shape (User-Agent),
//! each trying a few. Failure is what the login route's outcome rule says (or, on
//! routes not declared as login routes, a 401/403 from a login-like path).
//!
//! Owns the campaign table, bounded by the number of shapes it tracks.

use std::net::IpAddr;

use hashbrown::HashMap;
use palisade_models::config::CredentialStuffingConfig;
use palisade_models::{FindingClient, FindingKind, Severity, UsernameHash};

use super::{Ctx, Report, confidence, cooldown_s, make_room, round};
use crate::client::{ClientRef, Clients, Reported};
use crate::evidence;
use crate::sketch::{Distinct, Pair, hash_ip, username_bits};

/// Campaigns are judged over this many client windows (times two).
const CAMPAIGN_WINDOWS: u64 = 5;
/// Addresses remembered per campaign, to block the ones already seen.
const MAX_MEMBERS: usize = 1024;
/// Shapes tracked at once.
pub(crate) const MAX_SHAPES: usize = 10_000;

#[derive(Debug, Default)]
struct Campaign {
    window_start_ms: u64,
    failures: Pair<u32>,
    successes: Pair<u32>,
    addresses: Pair<Distinct<4>>,
    usernames: Pair<Distinct<4>>,
    members: Vec<IpAddr>,
    detected_ms: u64,
}

/// Login failures grouped by client shape.
#[derive(Debug, Default)]
pub struct Campaigns {
    map: HashMap<u32, Campaign>,
}

impl Campaigns {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// A login attempt, as the detectors see it.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    pub ip: IpAddr,
    pub shape: u32,
    pub failed: bool,
    pub username: Option<UsernameHash>,
}

pub fn check(
    cfg: &CredentialStuffingConfig,
    ctx: &mut Ctx<'_>,
    clients: &mut Clients,
    campaigns: &mut Campaigns,
    a: &Attempt,
    endpoint: &str,
) {
    if !cfg.enabled {
        return;
    }
    one_address(cfg, ctx, clients, a.ip, endpoint, None);
    let window = CAMPAIGN_WINDOWS * ctx.window_ms;
    if campaigns.map.len() >= MAX_SHAPES && !campaigns.map.contains_key(&a.shape) {
        // A flood of shapes: keep the campaigns that matter, drop the rest.
        let now = ctx.now_ms;
        make_room(
            &mut campaigns.map,
            MAX_SHAPES,
            |c| now >= c.window_start_ms + 2 * window && now >= c.detected_ms + 2 * window,
            |c| {
                if c.detected_ms != 0 && now < c.detected_ms + 2 * window {
                    u32::MAX
                } else {
                    c.failures.total()
                }
            },
        );
    }
    let camp = campaigns.map.entry(a.shape).or_default();
    if ctx.now_ms >= camp.window_start_ms + window {
        let skipped = ctx.now_ms >= camp.window_start_ms + 2 * window;
        camp.failures.roll(skipped);
        camp.successes.roll(skipped);
        camp.addresses.roll(skipped);
        camp.usernames.roll(skipped);
        camp.window_start_ms = ctx.now_ms - ctx.now_ms % window;
        if skipped {
            camp.members.clear();
        }
    }
    if !a.failed {
        camp.successes.cur += 1;
        return;
    }
    camp.failures.cur += 1;
    let ip_hash = hash_ip(a.ip);
    if camp.addresses.cur.insert(ip_hash)
        && camp.members.len() < MAX_MEMBERS
        && !camp.members.contains(&a.ip)
    {
        camp.members.push(a.ip);
    }
    if let Some(u) = a.username {
        camp.usernames.cur.insert(username_bits(u));
    }
    let addresses = camp.addresses.estimate();
    let usernames = camp.usernames.estimate();
    let failures = camp.failures.total();
    let attempts = failures + camp.successes.total();
    let share = f64::from(failures) / f64::from(attempts.max(1));
    let detected_recently = camp.detected_ms != 0 && ctx.now_ms < camp.detected_ms + 2 * window;
    let campaign = CampaignFacts {
        shape: a.shape,
        addresses,
        usernames,
        failures,
        share,
    };
    if detected_recently {
        // A new address joining a known campaign is blocked on its first failure.
        one_address(cfg, ctx, clients, a.ip, endpoint, Some(&campaign));
        return;
    }
    if addresses >= cfg.campaign_clients
        && usernames >= cfg.campaign_usernames
        && share >= cfg.campaign_failure_share
    {
        camp.detected_ms = ctx.now_ms;
        let members = camp.members.clone();
        for ip in members {
            one_address(cfg, ctx, clients, ip, endpoint, Some(&campaign));
        }
    }
}

#[derive(Debug)]
struct CampaignFacts {
    shape: u32,
    addresses: u32,
    usernames: u32,
    failures: u32,
    share: f64,
}

/// Reports `ip` when it fails over many usernames, or when it is part of a
/// detected campaign; either way only if it has (almost) no successful login.
fn one_address(
    cfg: &CredentialStuffingConfig,
    ctx: &mut Ctx<'_>,
    clients: &mut Clients,
    ip: IpAddr,
    endpoint: &str,
    campaign: Option<&CampaignFacts>,
) {
    let cooldown = cooldown_s(ctx);
    let Some(c) = clients.get_mut(ClientRef::Ip(ip)) else {
        return;
    };
    let failed = c.total(|k| k.login_failed);
    let ok = c.total(|k| k.login_ok);
    let usernames = c.failed_usernames.estimate();
    let success_share = f64::from(ok) / f64::from((failed + ok).max(1));
    if failed == 0 || success_share > cfg.max_success_share {
        return;
    }
    if campaign.is_none() && usernames < cfg.usernames_per_client {
        return;
    }
    if !c.should_report(Reported::Stuffing, (ctx.now_ms / 1000) as u32, cooldown) {
        return;
    }
    let (summary, mut evidence, confidence) = match campaign {
        None => (
            format!("{ip} failed logins on {usernames} usernames ({failed} failures)"),
            evidence![
                "failed_logins" => failed,
                "successful_logins" => ok,
                "distinct_usernames" => usernames,
                "threshold" => cfg.usernames_per_client,
            ],
            confidence(
                0.7,
                f64::from(usernames),
                f64::from(cfg.usernames_per_client),
            ),
        ),
        Some(k) => (
            format!(
                "{ip} is part of a login campaign: {} addresses sharing one client shape failed on {} usernames",
                k.addresses, k.usernames
            ),
            evidence![
                "failed_logins" => failed,
                "successful_logins" => ok,
                "campaign_shape" => format!("{:08x}", k.shape),
                "campaign_addresses" => k.addresses,
                "campaign_usernames" => k.usernames,
                "campaign_failures" => k.failures,
                "campaign_failure_share" => round(k.share),
            ],
            confidence(0.6, f64::from(k.addresses), f64::from(cfg.campaign_clients)),
        ),
    };
    evidence.insert("endpoint".into(), endpoint.into());
    ctx.report(Report {
        kind: FindingKind::CredentialStuffing,
        severity: Severity::High,
        confidence,
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
