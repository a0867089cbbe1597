//! Owns what the engine shows of itself to the admin surface: a tracked client's
//! summary, and the live view (inventory and top clients) the worker publishes
//! every second. Read-only over the engine's state; costs one pass over the client
//! table per view, on the worker thread, with a bounded heap for the top lists.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use palisade_models::{ClientName, ClientSummary, LiveView};

use crate::client::{ClientKey, ClientRef, ClientState};
use crate::engine::Engine;

/// How many clients each top list holds.
pub const TOP_CLIENTS: usize = 25;

/// The summary of one tracked client.
pub fn summary(key: &ClientKey, c: &ClientState) -> ClientSummary {
    ClientSummary {
        key: name(key),
        requests: c.total(|n| n.requests).into(),
        unauthorized: c.total(|n| n.unauthorized).into(),
        forbidden: c.total(|n| n.forbidden).into(),
        not_found: c.total(|n| n.not_found).into(),
        server_errors: c.total(|n| n.server_errors).into(),
        login_failed: c.total(|n| n.login_failed).into(),
        signature_hits: c.total(|n| n.signature_hits).into(),
        first_seen_ms: c.first_seen_ms,
        last_seen_ms: c.last_seen_ms,
    }
}

fn name(key: &ClientKey) -> ClientName {
    match key {
        ClientKey::Ip(ip) => ClientName::Ip(*ip),
        ClientKey::Subject(s) => ClientName::Subject(s.as_ref().into()),
        ClientKey::ApiKey(k) => ClientName::ApiKey(k.as_ref().into()),
    }
}

impl Engine {
    /// The summary of `who`, if it is tracked.
    pub fn client_summary(&self, who: &ClientName) -> Option<ClientSummary> {
        let key = match who {
            ClientName::Ip(ip) => ClientRef::Ip(*ip),
            ClientName::Subject(s) => ClientRef::Subject(s),
            ClientName::ApiKey(k) => ClientRef::ApiKey(k),
        };
        let state = self.clients().get(key)?;
        Some(summary(&key.to_owned(), state))
    }

    /// The inventory and the top clients, as of `now_ms`.
    pub fn live_view(&self, now_ms: u64) -> LiveView {
        // Min-heaps of the best `TOP_CLIENTS` so far: (score, last seen, key).
        let mut talkers = BinaryHeap::with_capacity(TOP_CLIENTS + 1);
        let mut failing = BinaryHeap::with_capacity(TOP_CLIENTS + 1);
        for (key, c) in self.clients().iter() {
            let requests = c.total(|n| n.requests);
            push_top(&mut talkers, (requests, c.last_seen_ms), key);
            let failures = c.total(|n| {
                n.unauthorized + n.forbidden + n.not_found + n.login_failed + n.signature_hits
            });
            if failures > 0 {
                push_top(&mut failing, (failures, c.last_seen_ms), key);
            }
        }
        let top = |heap: BinaryHeap<Reverse<Ranked<'_>>>| {
            let mut v: Vec<ClientSummary> = heap
                .into_sorted_vec()
                .into_iter()
                .filter_map(|Reverse(Ranked(_, key))| {
                    self.clients().get(key.as_ref()).map(|c| summary(key, c))
                })
                .collect();
            // into_sorted_vec of Reverse is highest score first already.
            v.truncate(TOP_CLIENTS);
            v
        };
        LiveView {
            at_ms: now_ms,
            endpoints: self.inventory(),
            top_talkers: top(talkers),
            top_failing: top(failing),
            clients_tracked: self.clients().len() as u64,
        }
    }
}

/// A client and its score (count, then last seen); ordered by score alone.
struct Ranked<'a>((u32, u64), &'a ClientKey);

impl PartialEq for Ranked<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for Ranked<'_> {}

impl PartialOrd for Ranked<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

fn push_top<'a>(heap: &mut BinaryHeap<Reverse<Ranked<'a>>>, score: (u32, u64), key: &'a ClientKey) {
    if heap.len() < TOP_CLIENTS {
        heap.push(Reverse(Ranked(score, key)));
    } else if heap.peek().is_some_and(|Reverse(min)| score > min.0) {
        heap.pop();
        heap.push(Reverse(Ranked(score, key)));
    }
}

#[cfg(test)]
mod tests {
    use palisade_models::{Config, RequestEvent};

    use super::*;
    use crate::engine::Output;

    fn config() -> Config {
        Config::parse("[upstream]\nurl = \"http://127.0.0.1:9\"\n[routes]\nunknown = \"allow\"\n")
            .expect("config")
    }

    #[test]
    fn top_lists_rank_by_requests_and_by_failures() {
        let mut engine = Engine::new(&config());
        let mut out = Output::default();
        let t0 = 1_700_000_000_000_000;
        for (i, ip) in ["10.0.0.1", "10.0.0.2", "10.0.0.3"].iter().enumerate() {
            for n in 0..(i + 1) * 3 {
                let mut ev = RequestEvent::example();
                ev.ts_unix_us = t0 + n as u64 * 1000;
                ev.client_ip = ip.parse().expect("ip");
                ev.status = if *ip == "10.0.0.1" { 401 } else { 200 };
                engine.process(&ev, &mut out);
            }
        }
        let view = engine.live_view(t0 / 1000);
        let talkers: Vec<String> = view.top_talkers.iter().map(|c| c.key.to_string()).collect();
        assert_eq!(talkers, ["ip:10.0.0.3", "ip:10.0.0.2", "ip:10.0.0.1"]);
        assert_eq!(view.top_talkers[0].requests, 9);
        assert_eq!(view.top_failing.len(), 1, "only 10.0.0.1 failed");
        assert_eq!(view.top_failing[0].unauthorized, 3);
        assert_eq!(view.clients_tracked, 3);
        let one = engine
            .client_summary(&"ip:10.0.0.2".parse().expect("name"))
            .expect("tracked");
        assert_eq!(one.requests, 6);
        assert!(
            engine
                .client_summary(&"ip:10.9.9.9".parse().expect("name"))
                .is_none()
        );
    }

    #[test]
    fn paths_refused_as_undeclared_are_no_endpoints() {
        let mut engine = Engine::new(&config());
        let mut out = Output::default();
        let mut ev = RequestEvent::example();
        ev.ts_unix_us = 1_700_000_000_000_000;
        ev.path = "/.git/config".into();
        ev.status = 404;
        ev.deny = Some(palisade_models::Denial {
            phase: palisade_models::Phase::Route,
            code: palisade_models::DenyCode::UnknownRoute,
        });
        engine.process(&ev, &mut out);
        assert!(engine.inventory().is_empty());
        assert_eq!(
            engine.live_view(0).clients_tracked,
            1,
            "the client is still seen"
        );
        ev.deny = None;
        engine.process(&ev, &mut out);
        assert_eq!(
            engine.inventory().len(),
            1,
            "let through: a shadow endpoint"
        );
    }
}
