//! Every engine table keyed by values a client chooses (its address, subject,
//! User-Agent, login username, object ids, path segments) stays within its cap
//! while one attacker sends each request with new values: measured table by
//! table after 150,000 distinct keys of each kind.

use std::net::IpAddr;
use std::sync::Arc;

use palisade_models::{Config, Login, LoginOutcome, RequestEvent, UsernameHash};

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
        let mut hash = [0u8; 16];
        hash[..4].copy_from_slice(&n.to_le_bytes());
        let login = RequestEvent {
            method: http::Method::POST,
            path: "/login".into(),
            route: Some(Arc::from("/login")),
            status: 401,
            login: Some(Login {
                outcome: LoginOutcome::Failed,
                username_hash: Some(UsernameHash(hash)),
            }),
            ..base.clone()
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
