//! The attack waves: one every 20 to 30 seconds, each from a fresh address, in a
//! fixed rotation of six kinds, each shaped to trip one detector with the demo
//! config (src/demo/demo.toml):
//! - BOLA: an insider walks other users' orders or profiles (`bola_enumeration`);
//! - probing for sensitive files the proxy does not route (`probing`);
//! - credential stuffing: many usernames, one attempt each (`credential_stuffing`);
//! - scraping: the whole catalog, fast, in shuffled order (`scraping`);
//! - brute force: one username, many passwords (`brute_force`);
//! - SQL injection attempts (`signature`).
//!
//! A wave ends when Palisade blocks its attacker (403 "blocked"), when it runs
//! out of requests, or after 20 seconds. Must log one line per wave and no more.

use std::net::Ipv4Addr;
use std::sync::Arc;

use serde_json::json;
use tokio::time::Instant;

use super::shoppers::INSIDER;
use super::{Counters, Net, Pace, Reply, Who, jitter};
use crate::demo::sample_api;

/// The first wave, once some shoppers are about.
const FIRST_WAVE_MS: u64 = 8_000;
/// From one wave's start to the next.
const WAVE_EVERY_MS: std::ops::RangeInclusive<u64> = 20_000..=30_000;
/// At least this long between a wave's end and the next one's start.
const MIN_GAP_MS: u64 = 3_000;
/// A wave that is not blocked gives up after this.
const WAVE_MAX_MS: u64 = 20_000;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Bola,
    Probing,
    Stuffing,
    Scraping,
    BruteForce,
    Sqli,
}

/// BOLA first: it is what an API-security sidecar is for.
const ROTATION: [Kind; 6] = [
    Kind::Bola,
    Kind::Probing,
    Kind::Stuffing,
    Kind::Scraping,
    Kind::BruteForce,
    Kind::Sqli,
];

impl Kind {
    /// Tools' User-Agents, none of them a shopper's browser (a login campaign
    /// is grouped by User-Agent) and none a known scanner's (the signature
    /// engine would refuse the very first request).
    fn user_agent(self) -> &'static str {
        match self {
            Kind::Bola => "curl/8.5.0",
            Kind::Probing => "Go-http-client/1.1",
            // An outdated Chrome, as stuffing tools like to pretend to be.
            Kind::Stuffing => {
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/91.0.4472.124 Safari/537.36"
            }
            Kind::Scraping => "Scrapy/2.11.2 (+https://scrapy.org)",
            Kind::BruteForce => "python-requests/2.31.0",
            Kind::Sqli => "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
        }
    }

    /// Time between two of the wave's requests.
    fn step_ms(self) -> u64 {
        match self {
            Kind::Bola => 250,
            Kind::Probing => 400,
            Kind::Stuffing => 800,
            Kind::Scraping => 80,
            Kind::BruteForce => 600,
            Kind::Sqli => 700,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::Bola => "a BOLA walk over other users' objects",
            Kind::Probing => "a probe for sensitive files",
            Kind::Stuffing => "credential stuffing on /api/login",
            Kind::Scraping => "a catalog scrape",
            Kind::BruteForce => "a password brute force on one account",
            Kind::Sqli => "SQL injection attempts",
        }
    }
}

/// Runs waves until stopped.
pub(super) async fn run(net: Arc<Net>, pace: Pace, mut rng: fastrand::Rng) {
    let mut addresses = Addresses::new(&mut rng);
    if !net.pause(pace.attack(FIRST_WAVE_MS)).await {
        return;
    }
    for kind in ROTATION.into_iter().cycle() {
        let start = Instant::now();
        let who = Who {
            ip: addresses.next(),
            user_agent: kind.user_agent(),
        };
        tracing::info!("demo: starting {} from {}", kind.describe(), who.ip);
        Counters::add(&net.counters.waves);
        let mut wave = Wave {
            net: &net,
            who,
            pace,
            step_ms: kind.step_ms(),
            deadline: start + pace.attack(WAVE_MAX_MS),
            requests: 0,
        };
        let end = match kind {
            Kind::Bola => bola(&mut wave, &mut rng).await,
            Kind::Probing => probing(&mut wave, &mut rng).await,
            Kind::Stuffing => stuffing(&mut wave, &mut rng).await,
            Kind::Scraping => scraping(&mut wave, &mut rng).await,
            Kind::BruteForce => brute_force(&mut wave, &mut rng).await,
            Kind::Sqli => sqli(&mut wave, &mut rng).await,
        };
        let requests = wave.requests;
        match end {
            Err(End::Stopped) => return,
            Err(End::Blocked) => {
                Counters::add(&net.counters.waves_blocked);
                tracing::debug!(attacker = %who.ip, requests, "demo: attacker blocked");
            }
            Ok(()) | Err(End::TimedOut) => {
                tracing::debug!(attacker = %who.ip, requests, "demo: wave over, not blocked");
            }
        }
        let next = (start + pace.attack(rng.u64(WAVE_EVERY_MS)))
            .max(Instant::now() + pace.attack(MIN_GAP_MS));
        if !net.pause(next - Instant::now()).await {
            return;
        }
    }
}

/// Fresh attacker addresses: every address of 198.51.100.0/24 and 203.0.113.0/24
/// in shuffled order, except the demo config's static block 203.0.113.66. A full
/// cycle takes hours, longer than any demo block lasts.
struct Addresses {
    all: Vec<Ipv4Addr>,
    next: usize,
}

impl Addresses {
    fn new(rng: &mut fastrand::Rng) -> Self {
        let mut all: Vec<Ipv4Addr> = [[198, 51, 100], [203, 0, 113]]
            .into_iter()
            .flat_map(|[a, b, c]| (1..=254).map(move |d| Ipv4Addr::new(a, b, c, d)))
            .filter(|ip| *ip != Ipv4Addr::new(203, 0, 113, 66))
            .collect();
        rng.shuffle(&mut all);
        Self { all, next: 0 }
    }

    fn next(&mut self) -> Ipv4Addr {
        let ip = self.all[self.next % self.all.len()];
        self.next += 1;
        ip
    }
}

/// Why a wave ended early.
#[derive(Debug)]
enum End {
    /// Palisade blocked the attacker.
    Blocked,
    /// The wave ran out of time.
    TimedOut,
    /// The demo is stopping.
    Stopped,
}

type Flow<T = ()> = Result<T, End>;

/// One wave in progress: who attacks, at what pace, until when.
struct Wave<'a> {
    net: &'a Net,
    who: Who,
    pace: Pace,
    step_ms: u64,
    deadline: Instant,
    requests: u32,
}

impl Wave<'_> {
    async fn get(&mut self, path: &str) -> Flow<Option<Reply>> {
        let request = self.net.get(&self.who, path);
        self.send(request).await
    }

    async fn login(&mut self, username: &str, password: &str) -> Flow<Option<Reply>> {
        let body = json!({ "username": username, "password": password });
        let request = self.net.post_json(&self.who, "/api/login", &body);
        self.send(request).await
    }

    /// Sends one request; ends the wave when the attacker is blocked or time is up.
    async fn send(&mut self, request: reqwest::RequestBuilder) -> Flow<Option<Reply>> {
        if Instant::now() >= self.deadline {
            return Err(End::TimedOut);
        }
        let reply = self.net.send(request).await;
        if self.net.stopped() {
            return Err(End::Stopped);
        }
        self.requests += 1;
        match reply {
            Some(r) if r.blocked() => Err(End::Blocked),
            reply => Ok(reply),
        }
    }

    /// Waits the wave's step, jittered.
    async fn step(&self, rng: &mut fastrand::Rng) -> Flow {
        let pause = self.pace.attack(jitter(rng, self.step_ms));
        if self.net.pause(pause).await {
            Ok(())
        } else {
            Err(End::Stopped)
        }
    }
}

/// An insider logs in with her own account, then reads objects that are not
/// hers: orders from her own order's id onwards, or every user profile (past the
/// last user, into 404s). `bola_enumeration` sees a sequential walk (20 ids) or
/// refused ids (10).
async fn bola(w: &mut Wave<'_>, rng: &mut fastrand::Rng) -> Flow {
    let password = sample_api::accounts()
        .into_iter()
        .find(|(_, username, _)| *username == INSIDER)
        .map(|(_, _, password)| password)
        .unwrap_or_default();
    let me = w.login(INSIDER, &password).await?.and_then(|r| r.json());
    let me = me.and_then(|v| v.get("user_id")?.as_u64()).unwrap_or(1);
    w.step(rng).await?;
    if rng.bool() {
        // Her first order's id, from her own order list, is where the walk starts.
        let list = w.get(&format!("/api/users/{me}/orders")).await?;
        let first = list
            .and_then(|r| r.json())
            .and_then(|v| v.get(0)?.get("id")?.as_u64())
            .unwrap_or(1000);
        w.step(rng).await?;
        for id in first + 1..first + 80 {
            w.get(&format!("/api/orders/{id}")).await?;
            w.step(rng).await?;
        }
    } else {
        for id in (1..=60).filter(|&id| id != me) {
            w.get(&format!("/api/users/{id}")).await?;
            w.step(rng).await?;
        }
    }
    Ok(())
}

/// Paths a scanner tries; the proxy answers each with 404 "unknown_route", and
/// several are files only an attacker asks for (`probing` blocks at 3 of those).
const PROBES: [&str; 16] = [
    "/admin",
    "/.env",
    "/api/v1/users",
    "/.git/config",
    "/wp-login.php",
    "/api/admin",
    "/phpmyadmin/",
    "/backup.zip",
    "/server-status",
    "/api/internal/debug",
    "/.aws/credentials",
    "/config.php",
    "/swagger.json",
    "/actuator/env",
    "/graphql",
    "/.DS_Store",
];

async fn probing(w: &mut Wave<'_>, rng: &mut fastrand::Rng) -> Flow {
    let mut paths = PROBES;
    rng.shuffle(&mut paths);
    for path in paths {
        w.get(path).await?;
        w.step(rng).await?;
    }
    Ok(())
}

/// Usernames from someone else's breach: some are accounts here.
const LEAKED_USERNAMES: [&str; 24] = [
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "admin",
    "test",
    "jsmith",
    "maria.garcia",
    "john.doe@example.com",
    "kim.lee",
    "sam",
    "oliver",
    "emma",
    "noah",
    "liam",
    "sophia",
    "support",
    "info",
];

/// Passwords from breach lists; none is a demo account's.
const LEAKED_PASSWORDS: [&str; 12] = [
    "123456",
    "password1",
    "qwerty123",
    "Summer2024!",
    "iloveyou",
    "letmein",
    "P@ssw0rd",
    "welcome1",
    "dragon",
    "monkey123",
    "Passw0rd!",
    "football",
];

/// Each username once, with a leaked password. The login route allows 5
/// attempts a minute per client, so the tool keeps retrying through its 429s;
/// `credential_stuffing` (4 usernames in the demo) blocks it.
async fn stuffing(w: &mut Wave<'_>, rng: &mut fastrand::Rng) -> Flow {
    let mut usernames = LEAKED_USERNAMES;
    rng.shuffle(&mut usernames);
    for username in usernames {
        let password = LEAKED_PASSWORDS[rng.usize(..LEAKED_PASSWORDS.len())];
        retry_limited(w, rng, username, password).await?;
    }
    Ok(())
}

/// Passwords people choose, for one account.
const COMMON_PASSWORDS: [&str; 20] = [
    "admin",
    "admin123",
    "password",
    "123456",
    "12345678",
    "qwerty",
    "letmein",
    "changeme",
    "root",
    "toor",
    "welcome",
    "Password1",
    "admin2024",
    "secret",
    "abc123",
    "trustno1",
    "master",
    "P@ssword1",
    "administrator",
    "1q2w3e4r",
];

/// One username (an account name attackers always try), many passwords;
/// `brute_force` (5 failures in the demo) blocks it.
async fn brute_force(w: &mut Wave<'_>, rng: &mut fastrand::Rng) -> Flow {
    let username = ["admin", "root", "administrator", "support"][rng.usize(..4)];
    let mut passwords = COMMON_PASSWORDS;
    rng.shuffle(&mut passwords);
    for password in passwords {
        retry_limited(w, rng, username, password).await?;
    }
    Ok(())
}

/// One login attempt, retried while the login route's limit refuses it (429):
/// attack tools ignore `Retry-After`.
async fn retry_limited(
    w: &mut Wave<'_>,
    rng: &mut fastrand::Rng,
    username: &str,
    password: &str,
) -> Flow {
    loop {
        let reply = w.login(username, password).await?;
        w.step(rng).await?;
        if reply.is_none_or(|r| r.status != 429) {
            return Ok(());
        }
    }
}

/// The catalog's size from its first page, then every product in shuffled order
/// (a sequential walk would look like BOLA), with catalog pages in between;
/// `scraping` (50 distinct products in the demo) blocks it.
async fn scraping(w: &mut Wave<'_>, rng: &mut fastrand::Rng) -> Flow {
    let first = w.get("/api/catalog?page=1&per_page=100").await?;
    let total = first
        .and_then(|r| r.json())
        .and_then(|v| v.get("total")?.as_u64())
        .unwrap_or(250);
    w.step(rng).await?;
    let mut ids: Vec<u64> = (1..=total).collect();
    rng.shuffle(&mut ids);
    for (i, id) in ids.into_iter().enumerate() {
        if i % 25 == 24 {
            w.get(&format!("/api/catalog?page={}&per_page=100", i / 100 + 1))
                .await?;
            w.step(rng).await?;
        }
        w.get(&format!("/api/catalog/{id}")).await?;
        w.step(rng).await?;
    }
    Ok(())
}

/// Classic injections in a query, a path and a login body. Each is refused with
/// 403 "signature"; `signature` blocks the client after 5.
const INJECTIONS: [&str; 7] = [
    "/api/catalog?q=1%27%20UNION%20SELECT%20username,password%20FROM%20users--",
    "/api/catalog?page=1%20OR%201=1--",
    "/api/catalog?q=%27%20OR%20%271%27=%271",
    "/api/catalog?sort=name;SELECT%20pg_sleep(5)--",
    "/api/orders/1000%20AND%201=CONVERT(int,@@version)",
    "/api/users/1;DROP%20TABLE%20users--",
    "/api/catalog?q=1%27%20AND%20SLEEP(5)%23",
];

async fn sqli(w: &mut Wave<'_>, rng: &mut fastrand::Rng) -> Flow {
    let mut paths = INJECTIONS;
    rng.shuffle(&mut paths);
    for (i, path) in paths.into_iter().enumerate() {
        if i == 3 {
            w.login("admin' OR '1'='1' --", "x").await?;
            w.step(rng).await?;
        }
        w.get(path).await?;
        w.step(rng).await?;
    }
    Ok(())
}
