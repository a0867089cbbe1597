//! A seeded traffic generator for the analytics worker: a population of benign
//! clients using a sample API the way people do (including honest mistakes: a
//! wrong password now and then, a stale link's 404, an expired token, several
//! users behind one NAT address), and a set of attacks, all as `RequestEvent`s on
//! a simulated clock. It closes the loop the way the proxy does: once a block is
//! published, the blocked actor's requests are refused (403 `blocked`) and never
//! reach the sample API.
//!
//! Used by the scenario tests and by `cargo run -p palisade-bench --release --bin
//! scenarios`, which prints what the README quotes. Must stay deterministic for a
//! given seed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use palisade_analytics::{Engine, Output};
use palisade_models::{
    BlockTable, ClientKeys, Config, Denial, DenyCode, Finding, FindingKind, Login, LoginOutcome,
    NewBlock, Phase, Protocol, RequestEvent, Severity, SignatureMatch, UsernameHash,
};

/// The attacks the generator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AttackKind {
    BolaWalk,
    BolaExploit,
    StuffingOneAddress,
    StuffingSpread,
    BruteForce,
    TokenSpray,
    Scraping,
    Probing,
    SignatureAttacker,
}

impl AttackKind {
    pub const ALL: [AttackKind; 9] = [
        AttackKind::BolaWalk,
        AttackKind::BolaExploit,
        AttackKind::StuffingOneAddress,
        AttackKind::StuffingSpread,
        AttackKind::BruteForce,
        AttackKind::TokenSpray,
        AttackKind::Scraping,
        AttackKind::Probing,
        AttackKind::SignatureAttacker,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AttackKind::BolaWalk => "BOLA sequential walk (403s)",
            AttackKind::BolaExploit => "BOLA exploitation (200 for everyone)",
            AttackKind::StuffingOneAddress => "credential stuffing, one address",
            AttackKind::StuffingSpread => "credential stuffing, 40 addresses",
            AttackKind::BruteForce => "brute force on one user",
            AttackKind::TokenSpray => "token spraying (401 spike)",
            AttackKind::Scraping => "scraping the catalog",
            AttackKind::Probing => "probing for files",
            AttackKind::SignatureAttacker => "repeated injection attempts",
        }
    }

    /// The finding kind that must name the attacker.
    pub fn expected(self) -> FindingKind {
        match self {
            AttackKind::BolaWalk | AttackKind::BolaExploit => FindingKind::BolaEnumeration,
            AttackKind::StuffingOneAddress | AttackKind::StuffingSpread => {
                FindingKind::CredentialStuffing
            }
            AttackKind::BruteForce => FindingKind::BruteForce,
            AttackKind::TokenSpray => FindingKind::AuthFailureSpike,
            AttackKind::Scraping => FindingKind::Scraping,
            AttackKind::Probing => FindingKind::Probing,
            AttackKind::SignatureAttacker => FindingKind::Signature,
        }
    }
}

/// Who sends a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Actor {
    pub ip: IpAddr,
    pub subject: Option<Arc<str>>,
    pub user_agent: Arc<str>,
}

/// What happened to one attack.
#[derive(Debug, Clone)]
pub struct AttackResult {
    pub kind: AttackKind,
    pub actors: usize,
    pub started_ms: u64,
    /// Requests the attack sent until the first finding of the expected kind.
    pub requests_until_detection: Option<u64>,
    /// From the attack's first request to its first actor being blocked.
    pub time_to_block_ms: Option<u64>,
    /// Actors blocked by the end.
    pub actors_blocked: usize,
    /// Requests refused because of a block.
    pub refused: u64,
}

/// What a run produced.
#[derive(Debug)]
pub struct Report {
    pub attacks: Vec<AttackResult>,
    pub benign_clients: usize,
    pub benign_blocked: Vec<String>,
    pub benign_high_findings: Vec<Finding>,
    pub findings: Vec<Finding>,
    pub events: u64,
}

/// The sample API's declared routes, as `palisade.toml` would declare them.
pub const ROUTES: &str = r#"
[upstream]
url = "http://127.0.0.1:9"
[routes]
unknown = "deny"
[[route]]
path = "/api/login"
methods = ["POST"]
[route.login]
username_field = "username"
[[route]]
path = "/api/me"
[[route]]
path = "/api/users/{id}"
[[route]]
path = "/api/orders/{id}"
[[route]]
path = "/api/catalog"
[[route]]
path = "/api/products/{id}"
"#;

/// The config the scenarios run under: the sample routes and default analytics.
pub fn config() -> Config {
    // INVARIANT: a constant config that the tests parse.
    Config::parse(ROUTES).unwrap_or_else(|e| panic!("scenario config: {e}"))
}

const USERS: usize = 240;
const ORDERS_PER_USER: u64 = 6;
const PRODUCTS: u64 = 5_000;
const BROWSERS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148",
    "okhttp/4.12.0",
];
/// Minutes of benign traffic before the attacks start (the learning period is
/// 10 minutes).
const WARMUP_MIN: u64 = 15;
const TOTAL_MIN: u64 = 30;
const T0_MS: u64 = 1_800_000_000_000;

/// A deterministic generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Seeded(u64);

impl Seeded {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

struct User {
    actor: Actor,
    user_id: u64,
    orders: Vec<u64>,
    next_ms: u64,
    logged_in: bool,
}

/// One request to simulate.
#[derive(Debug, Clone)]
struct Req {
    at_ms: u64,
    actor: Actor,
    method: http::Method,
    path: String,
    /// The route the proxy would match, None for undeclared paths.
    route: Option<&'static str>,
    /// Status the sample API answers (when the request reaches it).
    status: u16,
    deny: Option<DenyCode>,
    login: Option<Login>,
    signature: bool,
    attack: Option<usize>,
}

fn hash_username(name: &str) -> UsernameHash {
    // Stand-in for the proxy's salted HMAC: any stable 128-bit digest will do here.
    let mut a = 0xcbf2_9ce4_8422_2325u64;
    let mut b = 0x8422_2325_cbf2_9ce4u64;
    for byte in name.bytes() {
        a = (a ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
        b = (b ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b5);
    }
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&a.to_le_bytes());
    out[8..].copy_from_slice(&b.to_le_bytes());
    UsernameHash(out)
}

fn ip(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::from([a, b, c, d])
}

/// The events of a run without enforcement (every request reaches the API), in
/// time order: what the throughput benchmark feeds.
pub fn events(seed: u64, attacks: &[AttackKind]) -> Vec<RequestEvent> {
    let mut rng = Seeded::new(seed);
    generate(&mut rng, attacks)
        .iter()
        .enumerate()
        .map(|(n, r)| event(r, n, false))
        .collect()
}

/// Generates the benign traffic and the attacks, runs them through `engine`,
/// enforcing its blocks, and reports what was detected.
pub fn run(seed: u64, attacks: &[AttackKind]) -> Report {
    let config = config();
    let mut engine = Engine::new(&config);
    let mut rng = Seeded::new(seed);
    let reqs = generate(&mut rng, attacks);
    let (table, mut writer) = BlockTable::new();
    let mut out = Output::default();
    let mut findings = Vec::new();
    let mut results: Vec<AttackResult> = attacks
        .iter()
        .map(|&kind| AttackResult {
            kind,
            actors: 0,
            started_ms: 0,
            requests_until_detection: None,
            time_to_block_ms: None,
            actors_blocked: 0,
            refused: 0,
        })
        .collect();
    let mut attack_actors: Vec<BTreeSet<Actor>> = vec![BTreeSet::new(); attacks.len()];
    let mut sent: Vec<u64> = vec![0; attacks.len()];
    let mut blocked_actors: BTreeMap<String, usize> = BTreeMap::new();
    let mut benign_actors: BTreeSet<Actor> = BTreeSet::new();
    let mut events = 0;
    for (n, r) in reqs.iter().enumerate() {
        let keys = ClientKeys {
            ip: r.actor.ip,
            subject: r.actor.subject.as_deref(),
            api_key_id: None,
        };
        let blocked = table.lookup(keys, r.at_ms).is_some();
        match r.attack {
            Some(a) => {
                attack_actors[a].insert(r.actor.clone());
                if results[a].started_ms == 0 {
                    results[a].started_ms = r.at_ms;
                }
                if blocked {
                    results[a].refused += 1;
                } else {
                    sent[a] += 1;
                }
            }
            None => {
                benign_actors.insert(r.actor.clone());
            }
        }
        let ev = event(r, n, blocked);
        engine.process(&ev, &mut out);
        events += 1;
        for f in out.findings.drain(..) {
            for (a, res) in results.iter_mut().enumerate() {
                if res.requests_until_detection.is_none()
                    && f.kind == attacks[a].expected()
                    && attack_actors[a].iter().any(|act| names(&f, act))
                {
                    res.requests_until_detection = Some(sent[a]);
                }
            }
            findings.push(f);
        }
        for b in out.blocks.drain(..) {
            let scope = b.scope.to_string();
            for (a, res) in results.iter_mut().enumerate() {
                if attack_actors[a].iter().any(|act| scope_matches(&b, act))
                    && res.time_to_block_ms.is_none()
                {
                    res.time_to_block_ms = Some(r.at_ms.saturating_sub(res.started_ms));
                }
            }
            *blocked_actors.entry(scope).or_default() += 1;
            writer.publish(b);
        }
    }
    for (a, res) in results.iter_mut().enumerate() {
        res.actors = attack_actors[a].len();
        let end = reqs.last().map_or(0, |r| r.at_ms);
        res.actors_blocked = attack_actors[a]
            .iter()
            .filter(|act| {
                table
                    .list()
                    .iter()
                    .any(|b| scope_matches_block(&b.scope, act) && b.created_ms <= end)
            })
            .count();
    }
    let attackers: BTreeSet<&Actor> = attack_actors.iter().flatten().collect();
    let benign: Vec<&Actor> = benign_actors
        .iter()
        .filter(|a| !attackers.contains(a))
        .collect();
    let benign_blocked = table
        .list()
        .iter()
        .filter(|b| benign.iter().any(|a| scope_matches_block(&b.scope, a)))
        .map(|b| format!("{} ({})", b.scope, b.reason))
        .collect();
    let benign_high_findings = findings
        .iter()
        .filter(|f| f.severity >= Severity::High)
        .filter(|f| !attackers.iter().any(|a| names(f, a)))
        .filter(|f| benign.iter().any(|a| names(f, a)) || f.client.is_empty())
        .cloned()
        .collect();
    Report {
        attacks: results,
        benign_clients: benign.len(),
        benign_blocked,
        benign_high_findings,
        findings,
        events,
    }
}

/// Whether a finding is about this actor (by principal, or by address when the
/// finding has no principal).
fn names(f: &Finding, a: &Actor) -> bool {
    match (&f.client.subject, &a.subject) {
        (Some(s), Some(t)) => **s == **t,
        (Some(_), None) => false,
        (None, _) => f.client.ip == Some(a.ip),
    }
}

fn scope_matches(b: &NewBlock, a: &Actor) -> bool {
    scope_matches_block(&b.scope, a)
}

fn scope_matches_block(s: &palisade_models::BlockScope, a: &Actor) -> bool {
    match s {
        palisade_models::BlockScope::Ip(ip) => *ip == a.ip,
        palisade_models::BlockScope::Cidr(net) => net.contains(&a.ip),
        palisade_models::BlockScope::Subject(s) => a.subject.as_deref() == Some(&**s),
        palisade_models::BlockScope::ApiKey(_) => false,
    }
}

fn event(r: &Req, n: usize, blocked: bool) -> RequestEvent {
    let (status, deny, login) = if blocked {
        (403, Some(DenyCode::Blocked), None)
    } else {
        (r.status, r.deny, r.login)
    };
    let phase = match deny {
        Some(DenyCode::Blocked) => Phase::Block,
        Some(DenyCode::UnknownRoute) => Phase::Route,
        Some(DenyCode::Unauthenticated) => Phase::Authenticate,
        Some(DenyCode::Signature) => Phase::Inspect,
        _ => Phase::Forward,
    };
    let (path, query) = match r.path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (r.path.as_str(), None),
    };
    RequestEvent {
        ts_unix_us: r.at_ms * 1000,
        request_id: format!("r{n}").into(),
        client_ip: r.actor.ip,
        peer_ip: r.actor.ip,
        peer_port: 40000,
        subject: if deny == Some(DenyCode::Unauthenticated) {
            None
        } else {
            r.actor.subject.as_deref().map(Into::into)
        },
        api_key_id: None,
        token_id: None,
        scopes: None,
        method: r.method.clone(),
        host: Some("api.example.test".into()),
        path: path.into(),
        query_keys: query.map(|q| {
            q.split('&')
                .map(|kv| kv.split('=').next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("&")
                .into()
        }),
        route: if blocked {
            None
        } else {
            r.route.map(Arc::from)
        },
        undeclared: false,
        status,
        deny: deny.map(|code| Denial { phase, code }),
        latency_us: 2_000 + (n as u64 % 7) * 300,
        upstream_latency_us: None,
        bytes_in: 0,
        bytes_out: 512,
        user_agent: Some(r.actor.user_agent.to_string().into()),
        protocol: Protocol::Http11,
        tls: true,
        login,
        signatures: r.signature.then(|| {
            Box::new(SignatureMatch {
                score: 10,
                rule_ids: vec!["sqli-union".into()].into_boxed_slice(),
                over_threshold: true,
            })
        }),
        schema: None,
    }
}

fn generate(rng: &mut Seeded, attacks: &[AttackKind]) -> Vec<Req> {
    let mut reqs = Vec::new();
    benign(rng, &mut reqs);
    for (i, &kind) in attacks.iter().enumerate() {
        // Attacks start a minute apart after the warm-up.
        let start = T0_MS + (WARMUP_MIN + i as u64) * 60_000 + rng.below(30_000);
        attack(rng, kind, i, start, &mut reqs);
    }
    reqs.sort_by_key(|r| r.at_ms);
    reqs
}

fn users(rng: &mut Seeded) -> Vec<User> {
    (0..USERS)
        .map(|i| {
            // One user in eight sits behind one of three office NATs.
            let addr = if i % 8 == 0 {
                ip(100, 64, 0, (i % 3) as u8 + 1)
            } else {
                ip(10, (i / 250) as u8 + 1, (i % 250) as u8, 10)
            };
            let user_id = 1_000 + i as u64;
            User {
                actor: Actor {
                    ip: addr,
                    subject: Some(format!("user-{i}").into()),
                    user_agent: BROWSERS[i % BROWSERS.len()].into(),
                },
                user_id,
                // Orders are numbered globally, so one user's are far apart.
                orders: (0..ORDERS_PER_USER)
                    .map(|k| 50_000 + i as u64 + k * USERS as u64)
                    .collect(),
                next_ms: T0_MS + rng.below(60_000),
                logged_in: false,
            }
        })
        .collect()
}

fn benign(rng: &mut Seeded, reqs: &mut Vec<Req>) {
    let end = T0_MS + TOTAL_MIN * 60_000;
    let mut users = users(rng);
    for u in &mut users {
        while u.next_ms < end {
            let at = u.next_ms;
            let get = |path: String, route: &'static str, status: u16| Req {
                at_ms: at,
                actor: u.actor.clone(),
                method: http::Method::GET,
                path,
                route: Some(route),
                status,
                deny: None,
                login: None,
                signature: false,
                attack: None,
            };
            if !u.logged_in {
                let name = format!("user-{}@example.test", u.user_id);
                // A wrong password now and then, then the right one.
                if rng.chance(0.08) {
                    reqs.push(login_req(at, &u.actor, &name, false, None));
                }
                reqs.push(login_req(at + 3_000, &u.actor, &name, true, None));
                u.logged_in = true;
            } else {
                match rng.below(100) {
                    0..=19 => reqs.push(get("/api/me".into(), "/api/me", 200)),
                    20..=34 => reqs.push(get(
                        format!("/api/users/{}", u.user_id),
                        "/api/users/{id}",
                        200,
                    )),
                    35..=54 => {
                        let o = u.orders[rng.below(ORDERS_PER_USER) as usize];
                        reqs.push(get(format!("/api/orders/{o}"), "/api/orders/{id}", 200));
                    }
                    55..=74 => reqs.push(get(
                        format!("/api/catalog?page={}", rng.below(20) + 1),
                        "/api/catalog",
                        200,
                    )),
                    75..=94 => reqs.push(get(
                        format!("/api/products/{}", rng.below(PRODUCTS) + 1),
                        "/api/products/{id}",
                        200,
                    )),
                    95..=96 => {
                        // A stale link.
                        let mut r = get("/api/old-promo".into(), "", 404);
                        r.route = None;
                        r.deny = Some(DenyCode::UnknownRoute);
                        reqs.push(r);
                    }
                    _ => {
                        // The token expired: one 401, then a new login.
                        let mut r = get("/api/me".into(), "/api/me", 401);
                        r.deny = Some(DenyCode::Unauthenticated);
                        reqs.push(r);
                        u.logged_in = false;
                    }
                }
            }
            // A request every 5 to 40 seconds while active.
            u.next_ms += 5_000 + rng.below(35_000);
        }
    }
}

fn login_req(at: u64, actor: &Actor, username: &str, ok: bool, attack: Option<usize>) -> Req {
    Req {
        at_ms: at,
        actor: actor.clone(),
        method: http::Method::POST,
        path: "/api/login".into(),
        route: Some("/api/login"),
        status: if ok { 200 } else { 401 },
        deny: None,
        login: Some(Login {
            outcome: if ok {
                LoginOutcome::Ok
            } else {
                LoginOutcome::Failed
            },
            username_hash: Some(hash_username(username)),
        }),
        signature: false,
        attack,
    }
}

fn attack(rng: &mut Seeded, kind: AttackKind, i: usize, start: u64, reqs: &mut Vec<Req>) {
    // Each attacker brings its own tool (and so its own client shape).
    let tool: Arc<str> = Arc::from(format!("python-requests/2.31.{i}"));
    let mk = |ip: IpAddr, subject: Option<&str>| Actor {
        ip,
        subject: subject.map(Arc::from),
        user_agent: tool.clone(),
    };
    let get =
        |at: u64, actor: &Actor, path: String, route: Option<&'static str>, status: u16| Req {
            at_ms: at,
            actor: actor.clone(),
            method: http::Method::GET,
            path,
            route,
            status,
            deny: None,
            login: None,
            signature: false,
            attack: Some(i),
        };
    match kind {
        AttackKind::BolaWalk => {
            // A signed-in user walks the user ids; the API refuses others' (403).
            let a = mk(ip(203, 0, 113, 10), Some("mallory"));
            for k in 0..200u64 {
                let id = 1_000 + k;
                reqs.push(get(
                    start + k * 500,
                    &a,
                    format!("/api/users/{id}"),
                    Some("/api/users/{id}"),
                    403,
                ));
            }
        }
        AttackKind::BolaExploit => {
            // A signed-in user reads other users' orders, which the API answers.
            let a = mk(ip(203, 0, 113, 11), Some("eve"));
            for k in 0..200u64 {
                let owner = rng.below(USERS as u64);
                let o = 50_000 + owner + rng.below(ORDERS_PER_USER) * USERS as u64;
                reqs.push(get(
                    start + k * 700,
                    &a,
                    format!("/api/orders/{o}"),
                    Some("/api/orders/{id}"),
                    200,
                ));
            }
        }
        AttackKind::StuffingOneAddress => {
            let a = mk(ip(203, 0, 113, 12), None);
            for k in 0..300u64 {
                let name = format!("leaked-{k}@mail.test");
                reqs.push(login_req(start + k * 400, &a, &name, false, Some(i)));
            }
        }
        AttackKind::StuffingSpread => {
            // 40 addresses, one tool, three usernames each, spread over 10 minutes.
            for h in 0..40u8 {
                let a = mk(ip(198, 51, 100, h + 1), None);
                for k in 0..3u64 {
                    let at = start + rng.below(600_000);
                    let name = format!("combo-{h}-{k}@mail.test");
                    reqs.push(login_req(at, &a, &name, false, Some(i)));
                }
            }
        }
        AttackKind::BruteForce => {
            let a = mk(ip(203, 0, 113, 13), None);
            for k in 0..200u64 {
                reqs.push(login_req(
                    start + k * 1_000,
                    &a,
                    "user-1007@example.test",
                    false,
                    Some(i),
                ));
            }
        }
        AttackKind::TokenSpray => {
            let a = mk(ip(203, 0, 113, 14), None);
            for k in 0..300u64 {
                let mut r = get(start + k * 300, &a, "/api/me".into(), Some("/api/me"), 401);
                r.deny = Some(DenyCode::Unauthenticated);
                reqs.push(r);
            }
        }
        AttackKind::Scraping => {
            let a = mk(ip(203, 0, 113, 15), Some("scraper"));
            for k in 0..3_000u64 {
                let (path, route) = if k % 2 == 0 {
                    (format!("/api/catalog?page={}", k / 2 + 1), "/api/catalog")
                } else {
                    (format!("/api/products/{}", k / 2 + 1), "/api/products/{id}")
                };
                reqs.push(get(start + k * 100, &a, path, Some(route), 200));
            }
        }
        AttackKind::Probing => {
            let a = mk(ip(203, 0, 113, 16), None);
            let files = [
                "/.env",
                "/.git/config",
                "/wp-admin/",
                "/backup.sql",
                "/phpmyadmin/",
                "/server-status",
                "/actuator/env",
                "/.aws/credentials",
            ];
            for k in 0..120u64 {
                let path = if k % 10 == 0 {
                    files[(k / 10) as usize % files.len()].to_string()
                } else {
                    format!("/admin{k}/login.php")
                };
                let mut r = get(start + k * 700, &a, path, None, 404);
                r.deny = Some(DenyCode::UnknownRoute);
                reqs.push(r);
            }
        }
        AttackKind::SignatureAttacker => {
            let a = mk(ip(203, 0, 113, 17), None);
            for k in 0..60u64 {
                let mut r = get(
                    start + k * 2_000,
                    &a,
                    format!("/api/products/{}", k + 1),
                    Some("/api/products/{id}"),
                    403,
                );
                r.deny = Some(DenyCode::Signature);
                r.signature = true;
                reqs.push(r);
            }
        }
    }
}
