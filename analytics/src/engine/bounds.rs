//! Every engine table keyed by values a client chooses (its address, subject,
//! User-Agent, login username, object ids, path segments) stays within its cap
//! while one attacker sends each request with new values: measured table by
//! table after 150,000 distinct keys of each kind.

use std::net::IpAddr;
use std::sync::Arc;

use palisade_models::{Config, FindingKind, Login, LoginOutcome, RequestEvent, UsernameHash};

use super::{Engine, Output};
use crate::detectors::brute_force::MAX_USERNAMES;
use crate::detectors::credential_stuffing::MAX_SHAPES;
use crate::trail::MAX_TRAILS;

const T0_MS: u64 = 1_800_000_000_000;
const N: u32 = 150_000;
const MAX_CLIENTS: usize = 2_000;
const MAX_ENDPOINTS: usize = 50;
const MAX_OBJECTS: usize = 1_000;

#[test]
fn hostile_keys_leave_every_table_within_its_cap() {
    let toml = format!(
        "[upstream]\nurl = \"http://127.0.0.1:9\"\n\
         [analytics]\nmax_clients = {MAX_CLIENTS}\nmax_endpoints = {MAX_ENDPOINTS}\n\
         max_objects = {MAX_OBJECTS}\n\
         [routes]\nunknown = \"allow\"\n\
         [[route]]\npath = \"/api/items/{{id}}\"\n\
         [[route]]\npath = \"/login\"\nmethods = [\"POST\"]\n"
    );
    let config = Config::parse(&toml).unwrap_or_else(|e| panic!("config: {e}"));
    let mut e = Engine::new(&config);
    let mut out = Output::default();
    for n in 0..N {
        let ip = IpAddr::from(n.to_be_bytes().map(|b| b.wrapping_add(1)));
        let ms = u64::from(n);
        let base = RequestEvent {
            ts_unix_us: (T0_MS + ms) * 1000,
            client_ip: ip,
            user_agent: Some(format!("agent/{n}").into()),
            ..RequestEvent::example()
        };
        // An object read by a new principal.
        let read = RequestEvent {
            subject: Some(format!("user-{n}").into()),
            path: format!("/api/items/{n}").into(),
            route: Some(Arc::from("/api/items/{id}")),
            ..base.clone()
        };
        // A failed login with a new username.
        let login = RequestEvent {
            ts_unix_us: base.ts_unix_us,
            ..failed_login(ip, n, &format!("agent/{n}"))
        };
        // An undeclared path of new literal segments.
        let wander = RequestEvent {
            path: format!("/w{}/p{}/q{n}", n % 97, n % 89).into(),
            undeclared: true,
            status: 404,
            ..base
        };
        for ev in [&read, &login, &wander] {
            e.process(ev, &mut out);
        }
        // Findings and blocks are the worker's to drain.
        out.findings.clear();
        out.blocks.clear();
    }
    let stats = e.stats();
    let sizes = [
        (
            "clients (analytics.max_clients)",
            stats.clients,
            MAX_CLIENTS,
        ),
        (
            "endpoints (analytics.max_endpoints)",
            stats.endpoints,
            MAX_ENDPOINTS,
        ),
        (
            "object owners (analytics.max_objects)",
            e.owners.len(),
            MAX_OBJECTS,
        ),
        ("object trails", e.trails.len(), MAX_TRAILS),
        ("login usernames", e.usernames.len(), MAX_USERNAMES),
        ("credential-stuffing shapes", e.campaigns.len(), MAX_SHAPES),
    ];
    for (what, len, cap) in sizes {
        eprintln!("{what}: {len} (cap {cap}) after {N} distinct keys");
        assert!(len <= cap, "{what}: {len} > {cap}");
        assert!(len > 0, "{what}: the test did not reach this table");
    }
    assert!(
        stats.untracked_clients > 0,
        "clients over the cap are counted"
    );
}

/// An engine with a `/login` route, and a failed login on it.
fn login_engine() -> Engine {
    let toml = "[upstream]\nurl = \"http://127.0.0.1:9\"\n\
                [routes]\nunknown = \"allow\"\n\
                [[route]]\npath = \"/login\"\nmethods = [\"POST\"]\n";
    Engine::new(&Config::parse(toml).unwrap_or_else(|e| panic!("config: {e}")))
}

fn failed_login(ip: IpAddr, username: u32, agent: &str) -> RequestEvent {
    let mut hash = [0u8; 16];
    hash[..4].copy_from_slice(&username.to_le_bytes());
    RequestEvent {
        ts_unix_us: T0_MS * 1000,
        client_ip: ip,
        user_agent: Some(agent.into()),
        method: http::Method::POST,
        path: "/login".into(),
        route: Some(Arc::from("/login")),
        status: 401,
        login: Some(Login {
            outcome: LoginOutcome::Failed,
            username_hash: Some(UsernameHash(hash)),
        }),
        ..RequestEvent::example()
    }
}

/// Whether `out` holds a finding of `kind` about an address of `ips`.
fn found(out: &Output, kind: FindingKind, ips: &[IpAddr]) -> bool {
    out.findings
        .iter()
        .any(|f| f.kind == kind && f.client.ip.is_some_and(|ip| ips.contains(&ip)))
}

/// A brute force on one username from eight addresses, interrupted by a flood
/// of failed logins on new usernames that fills the username table: the
/// failures counted before the flood still count after it.
#[test]
fn a_flood_of_usernames_does_not_wipe_out_a_brute_force_under_way() {
    let mut e = login_engine();
    let mut out = Output::default();
    let attackers: Vec<IpAddr> = (1..=8).map(|i| IpAddr::from([198, 51, 100, i])).collect();
    // 16 failures on username 7, two per address: below username_failures (20).
    for _ in 0..2 {
        for &ip in &attackers {
            e.process(&failed_login(ip, 7, "attacker"), &mut out);
        }
    }
    assert!(!found(&out, FindingKind::BruteForce, &attackers));
    let flood = IpAddr::from([203, 0, 113, 9]);
    for n in 0..MAX_USERNAMES as u32 + 10 {
        e.process(&failed_login(flood, 1_000_000 + n, "flood"), &mut out);
        out.findings.retain(|f| f.kind == FindingKind::BruteForce);
        out.blocks.clear();
    }
    assert!(e.usernames.len() <= MAX_USERNAMES);
    // Eight more: 24 failures from eight addresses.
    for &ip in &attackers {
        e.process(&failed_login(ip, 7, "attacker"), &mut out);
    }
    assert!(
        found(&out, FindingKind::BruteForce, &attackers),
        "the brute force on one username is still found"
    );
}

/// A credential-stuffing campaign (one User-Agent, many addresses, many
/// usernames) interrupted by failed logins from ten thousand new User-Agents,
/// which fills the campaign table: the campaign keeps what it had counted.
#[test]
fn a_flood_of_user_agents_does_not_wipe_out_a_campaign_under_way() {
    let mut e = login_engine();
    let mut out = Output::default();
    let members: Vec<IpAddr> = (1..=16).map(|i| IpAddr::from([198, 51, 100, i])).collect();
    let mut username = 0;
    let mut attempt = |e: &mut Engine, out: &mut Output, ip: IpAddr| {
        for _ in 0..2 {
            username += 1;
            e.process(&failed_login(ip, username, "stuffer/1.0"), out);
        }
    };
    // Six addresses, twelve usernames: below campaign_clients (10) and
    // campaign_usernames (20).
    for &ip in &members[..6] {
        attempt(&mut e, &mut out, ip);
    }
    assert!(!found(&out, FindingKind::CredentialStuffing, &members));
    let flood = IpAddr::from([203, 0, 113, 9]);
    for n in 0..MAX_SHAPES as u32 + 10 {
        e.process(
            &failed_login(flood, 1_000_000 + n, &format!("flood/{n}")),
            &mut out,
        );
        out.findings
            .retain(|f| f.kind == FindingKind::CredentialStuffing && f.client.ip != Some(flood));
        out.blocks.clear();
    }
    assert!(e.campaigns.len() <= MAX_SHAPES);
    // Ten more addresses: sixteen, over thirty-two usernames.
    for &ip in &members[6..] {
        attempt(&mut e, &mut out, ip);
    }
    assert!(
        found(&out, FindingKind::CredentialStuffing, &members[..6]),
        "members seen before the flood are named too"
    );
}
