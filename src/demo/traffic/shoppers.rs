//! The benign traffic: 30 shoppers, each with its own address and browser, in
//! sessions of a few requests a few seconds apart with breaks in between. Account
//! holders log in with their own password (now and then after a typo) and read
//! their own profile and orders; visitors only browse the catalog.
//!
//! Must stay far below the detectors' thresholds: per shopper about one request
//! every 6 seconds (10 to 20 a minute), at most a dozen distinct products and
//! only its own orders within any two minutes, a login or two per session (the
//! login route allows 5 a minute), and no User-Agent that an attacker wave uses.

use std::net::Ipv4Addr;
use std::sync::Arc;

use serde_json::{Value, json};

use super::{Counters, Net, Pace, Who};
use crate::demo::sample_api;

/// Anonymous visitors, on top of one shopper per account.
const VISITORS: usize = 11;
/// The account that attacks instead of shopping (the BOLA walk's insider).
pub(super) const INSIDER: &str = "mallory";
/// Pages of the catalog at the default 20 per page (250 products).
const CATALOG_PAGES: u64 = 13;
const PRODUCTS: u64 = 250;

/// Real browsers and the shop's app; no attacker wave uses any of them.
const BROWSERS: [&str; 8] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
    "DemoShop/4.2.0 (iPhone; iOS 17.5; Scale/3.00)",
];

/// One simulated shopper.
#[derive(Debug)]
pub(super) struct Shopper {
    who: Who,
    account: Option<Account>,
}

#[derive(Debug)]
struct Account {
    username: &'static str,
    password: String,
}

/// Everyone who shops: each account holder but the insider, and some visitors,
/// each at its own address in 192.0.2.0/24 with its own browser.
pub(super) fn population(rng: &mut fastrand::Rng) -> Vec<Shopper> {
    let mut hosts: Vec<u8> = (10..=250).collect();
    rng.shuffle(&mut hosts);
    let accounts = sample_api::accounts()
        .into_iter()
        .filter(|(_, username, _)| *username != INSIDER)
        .map(|(_, username, password)| Some(Account { username, password }));
    accounts
        .chain(std::iter::repeat_with(|| None).take(VISITORS))
        .zip(hosts)
        .map(|(account, host)| Shopper {
            who: Who {
                ip: Ipv4Addr::new(192, 0, 2, host),
                user_agent: BROWSERS[rng.usize(..BROWSERS.len())],
            },
            account,
        })
        .collect()
}

/// A logged-in shopper's session.
#[derive(Debug)]
struct Session {
    user_id: u64,
    token: String,
}

/// What a shopper last saw, to click on.
#[derive(Debug, Default)]
struct Seen {
    page: u64,
    products: Vec<u64>,
    orders: Vec<u64>,
}

/// Shops until stopped.
pub(super) async fn run(net: Arc<Net>, s: Shopper, pace: Pace, mut rng: fastrand::Rng) {
    let mut shop = Shop {
        net: &net,
        who: s.who,
        pace,
        session: None,
        seen: Seen::default(),
    };
    // Staggered arrivals rather than everyone at once.
    if !net.pause(pace.shopper(rng.u64(0..10_000))).await {
        return;
    }
    loop {
        if let Some(account) = &s.account
            // Most sessions are remembered; some log in again.
            && (shop.session.is_none() || rng.u8(..4) == 0)
        {
            shop.session = shop.login(account, &mut rng).await;
            if !shop.think(&mut rng).await {
                return;
            }
        }
        for _ in 0..rng.usize(4..=12) {
            shop.act(&mut rng).await;
            if !shop.think(&mut rng).await {
                return;
            }
        }
        // A break between sessions.
        if !net.pause(pace.shopper(rng.u64(10_000..45_000))).await {
            return;
        }
    }
}

struct Shop<'a> {
    net: &'a Net,
    who: Who,
    pace: Pace,
    session: Option<Session>,
    seen: Seen,
}

impl Shop<'_> {
    /// Reading time between two clicks: 2 to 10 seconds.
    async fn think(&self, rng: &mut fastrand::Rng) -> bool {
        self.net
            .pause(self.pace.shopper(rng.u64(2_000..10_000)))
            .await
    }

    /// Logs in, one time in ten after a typo in the password.
    async fn login(&mut self, account: &Account, rng: &mut fastrand::Rng) -> Option<Session> {
        if rng.u8(..10) == 0 {
            let typo = typo(&account.password, rng);
            self.send_login(account.username, &typo).await;
            if !self
                .net
                .pause(self.pace.shopper(rng.u64(2_000..6_000)))
                .await
            {
                return None;
            }
        }
        let body = self.send_login(account.username, &account.password).await?;
        Some(Session {
            user_id: body.get("user_id")?.as_u64()?,
            token: body.get("token")?.as_str()?.to_owned(),
        })
    }

    async fn send_login(&self, username: &str, password: &str) -> Option<Value> {
        let body = json!({ "username": username, "password": password });
        let request = self.net.post_json(&self.who, "/api/login", &body);
        self.send(request).await
    }

    /// One click: mostly the catalog; for a logged-in shopper, sometimes their
    /// own profile and orders.
    async fn act(&mut self, rng: &mut fastrand::Rng) {
        let own = self.session.as_ref().map(|s| s.user_id);
        match (rng.u8(..10), own) {
            (0..=3, _) => self.browse(rng).await,
            (4..=6, _) | (_, None) => self.product(rng).await,
            (7, Some(user)) => {
                self.get(&format!("/api/users/{user}")).await;
            }
            (8, Some(user)) => self.order_list(user).await,
            (_, Some(user)) => match self
                .seen
                .orders
                .get(rng.usize(..self.seen.orders.len().max(1)))
            {
                Some(&order) => {
                    self.get(&format!("/api/orders/{order}")).await;
                }
                None => self.order_list(user).await,
            },
        }
    }

    /// A catalog page: the next one, or another one now and then.
    async fn browse(&mut self, rng: &mut fastrand::Rng) {
        let page = if self.seen.page == 0 || rng.u8(..3) == 0 {
            rng.u64(1..=CATALOG_PAGES)
        } else {
            self.seen.page % CATALOG_PAGES + 1
        };
        let Some(body) = self.get(&format!("/api/catalog?page={page}")).await else {
            return;
        };
        self.seen.page = page;
        self.seen.products = ids(&body["items"]);
    }

    /// A product from the page last seen (or any, for a shopper arriving on it).
    async fn product(&mut self, rng: &mut fastrand::Rng) {
        let id = match self.seen.products.as_slice() {
            [] => rng.u64(1..=PRODUCTS),
            ids => ids[rng.usize(..ids.len())],
        };
        self.get(&format!("/api/catalog/{id}")).await;
    }

    async fn order_list(&mut self, user: u64) {
        if let Some(body) = self.get(&format!("/api/users/{user}/orders")).await {
            self.seen.orders = ids(&body);
        }
    }

    async fn get(&self, path: &str) -> Option<Value> {
        let mut request = self.net.get(&self.who, path);
        if let Some(s) = &self.session {
            // The sample API never checks it; a real client sends it anyway.
            request = request.bearer_auth(&s.token);
        }
        self.send(request).await
    }

    /// Sends and counts a shopper's request; the JSON body of a 200.
    async fn send(&self, request: reqwest::RequestBuilder) -> Option<Value> {
        let reply = self.net.send(request).await?;
        let counters = &self.net.counters;
        Counters::add(&counters.shopper_requests);
        if reply.blocked() {
            Counters::add(&counters.shoppers_blocked);
            tracing::debug!(ip = %self.who.ip, "demo: a shopper was blocked");
        }
        reply.json()
    }
}

/// The `id` of each object in a JSON array.
fn ids(items: &Value) -> Vec<u64> {
    items
        .as_array()
        .map(|a| a.iter().filter_map(|o| o.get("id")?.as_u64()).collect())
        .unwrap_or_default()
}

/// The password with one slip: a doubled or a dropped character.
fn typo(password: &str, rng: &mut fastrand::Rng) -> String {
    let mut chars: Vec<char> = password.chars().collect();
    let at = rng.usize(..chars.len().max(1));
    if rng.bool() {
        chars.insert(at, chars.get(at).copied().unwrap_or('x'));
    } else if !chars.is_empty() {
        chars.remove(at);
    }
    chars.into_iter().collect()
}
