//! Synthetic traffic for the batch crate's tests: a population of ordinary
//! clients of a few kinds and planted unusual ones, as `RequestEvent`s pushed
//! through the analytics engine into the event window, exactly as the worker does.

#![allow(dead_code)]

use std::net::IpAddr;
use std::sync::Arc;

use palisade_analytics::window::{Window, WindowLimits};
use palisade_analytics::{Engine, Output};
use palisade_models::{Config, RequestEvent};

pub const T0_MS: u64 = 1_800_000_000_000;

pub fn config(extra: &str) -> Config {
    Config::parse(&format!(
        "[upstream]\nurl = \"http://127.0.0.1:9\"\n[routes]\nunknown = \"allow\"\n{extra}"
    ))
    .unwrap()
}

/// A small deterministic generator (xorshift).
pub struct Gen(pub u64);

impl Gen {
    pub fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: u64) -> u64 {
        (self.unit() * n as f64) as u64
    }
}

/// One request of `subject` at `ts_ms`.
pub fn event(
    ts_ms: u64,
    subject: &str,
    method: http::Method,
    path: String,
    status: u16,
) -> RequestEvent {
    RequestEvent {
        ts_unix_us: ts_ms * 1000,
        request_id: format!("r{ts_ms}").into(),
        client_ip: IpAddr::from([10, 1, 0, 1]),
        subject: Some(subject.into()),
        method,
        path: path.into(),
        status,
        latency_us: 2000,
        bytes_out: 1500,
        user_agent: Some("synthetic/1".into()),
        ..RequestEvent::example()
    }
}

/// Thirty minutes of traffic: `normal` people browsing (a few pages a minute,
/// irregular, their own orders) and `scrapers` planted clients walking the
/// catalog twice a second like a metronome. Returns the events in time order
/// and the planted subjects.
pub fn traffic(normal: usize, scrapers: usize, seed: u64) -> (Vec<RequestEvent>, Vec<String>) {
    let mut g = Gen(seed | 1);
    let mut evs = Vec::new();
    let minutes = 30;
    for u in 0..normal {
        let who = format!("user{u}");
        let mut t = T0_MS + g.below(60_000);
        while t < T0_MS + minutes * 60_000 {
            let path = match g.below(6) {
                0 => "/api/catalog".to_string(),
                1 => format!("/api/catalog/items/{}", g.below(200)),
                2 => format!("/api/orders/{}", 1000 + u as u64 * 3 + g.below(3)),
                3 => "/api/cart".to_string(),
                4 => "/api/users/me".to_string(),
                _ => format!("/api/reviews/{}", g.below(50)),
            };
            let method = if g.below(10) == 0 {
                http::Method::POST
            } else {
                http::Method::GET
            };
            let status = if g.below(40) == 0 { 404 } else { 200 };
            evs.push(event(t, &who, method, path, status));
            // 5 to 35 seconds between pages.
            t += 5_000 + g.below(30_000);
        }
    }
    let mut planted = Vec::new();
    for s in 0..scrapers {
        let who = format!("scraper{s}");
        let mut t = T0_MS + g.below(10_000);
        let mut item = g.below(100);
        while t < T0_MS + minutes * 60_000 {
            evs.push(event(
                t,
                &who,
                http::Method::GET,
                format!("/api/catalog/items/{item}"),
                200,
            ));
            item += 1;
            t += 500;
        }
        planted.push(who);
    }
    evs.sort_by_key(|e| e.ts_unix_us);
    (evs, planted)
}

/// The engine and the window after `evs`, as the worker leaves them.
pub fn run_engine(config: &Config, evs: &[RequestEvent]) -> (Engine, Window) {
    let mut engine = Engine::new(config);
    let mut window = Window::new(WindowLimits {
        max_bytes: 1 << 32,
        max_age_ms: 86_400_000,
    });
    let mut out = Output::default();
    for ev in evs {
        engine.process(ev, &mut out);
        window.push(ev, engine.last_endpoint());
        out.findings.clear();
        out.blocks.clear();
    }
    window.seal();
    (engine, window)
}

/// A clock standing at `ms`.
pub fn clock_at(ms: u64) -> Arc<palisade_models::ManualClock> {
    Arc::new(palisade_models::ManualClock::new(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms),
    ))
}
