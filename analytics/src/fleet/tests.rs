use std::net::{IpAddr, Ipv4Addr};

use palisade_models::tally::{LoginCounts, ObjectCounts, TallyCounts};

use super::*;
use crate::detectors::Who;

const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
const NOW: u64 = 1_000_000_000;
const WINDOW: u64 = 60_000;

fn detectors() -> DetectorsConfig {
    DetectorsConfig::default()
}

fn clients() -> Clients {
    let mut c = Clients::new(100);
    c.entry(ClientRef::Ip(IP), NOW, WINDOW, 600_000).unwrap();
    c
}

fn seen(id: &str, denied: bool) -> ObjectSeen<'_> {
    ObjectSeen {
        principal: ClientRef::Ip(IP),
        who: Who {
            ip: IP,
            subject: None,
            api_key_id: None,
        },
        endpoint: "GET /api/orders/{id}",
        template: 3,
        id,
        denied,
        foreign: false,
        ownership: Ownership::Unknown,
    }
}

fn answer(t: &mut FleetTally, clients: &mut Clients, counts: Option<TallyCounts>) -> Vec<Finding> {
    let mut out = Vec::new();
    t.answer(
        counts,
        &detectors(),
        clients,
        NOW,
        WINDOW,
        &mut Rng::new(),
        &mut out,
    );
    out
}

#[test]
fn a_batch_carries_hashes_only_and_one_exchange_is_in_flight_at_a_time() {
    let mut t = FleetTally::new("a");
    assert!(t.take().is_none(), "nothing seen, nothing to send");
    t.object(&seen("1001", true));
    t.object(&seen("1002", false));
    t.login(IP, "POST /login", 4, true, Some(42));
    let b = t.take().unwrap();
    assert_eq!(b.objects.len(), 1);
    let o = &b.objects[0];
    assert_eq!(o.principal, "ip:203.0.113.7");
    assert_eq!(o.ids, vec![stable_hash("1001"), stable_hash("1002")]);
    assert_eq!(o.denied, vec![stable_hash("1001")]);
    assert_eq!(b.logins[0].failed_usernames, vec![42]);
    assert_eq!((b.logins[0].failures, b.logins[0].successes), (1, 0));
    // Seen meanwhile: kept for the next exchange, not sent while one is in flight.
    t.object(&seen("1003", false));
    assert!(t.take().is_none());
    let mut c = clients();
    assert!(answer(&mut t, &mut c, None).is_empty());
    assert_eq!(t.take().unwrap().objects[0].ids, vec![stable_hash("1003")]);
}

#[test]
fn fleet_counts_over_the_threshold_are_claimed_then_reported_once_by_the_winner() {
    let mut t = FleetTally::new("b");
    let mut c = clients();
    t.object(&seen("1001", true));
    t.login(IP, "POST /login", 4, true, Some(7));
    t.take().unwrap();
    let counts = TallyCounts {
        objects: vec![ObjectCounts {
            ids: 30,
            denied: 30,
            foreign: 0,
        }],
        logins: vec![LoginCounts {
            failed_usernames: 12,
            failures: 12,
            successes: 0,
        }],
        won: Vec::new(),
    };
    // Over the thresholds: nothing reported yet, two claims to make.
    assert!(answer(&mut t, &mut c, Some(counts)).is_empty());
    let b = t.take().unwrap();
    let mut keys: Vec<&str> = b.claims.iter().map(|c| c.key.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "bola:ip:203.0.113.7:GET /api/orders/{id}",
            "stuffing:203.0.113.7:POST /login"
        ]
    );
    assert!(b.claims.iter().all(|c| c.ttl_ms == 2 * WINDOW));
    // Won one of the two: that one is reported, naming this sidecar; the
    // other was reported by whoever won it.
    let won = TallyCounts {
        won: vec!["bola:ip:203.0.113.7:GET /api/orders/{id}".into()],
        ..TallyCounts::default()
    };
    let out = answer(&mut t, &mut c, Some(won));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind, FindingKind::BolaEnumeration);
    assert_eq!(out[0].instance.as_deref(), Some("b"));
    assert_eq!(out[0].evidence["scope"], "fleet");
    assert_eq!(out[0].evidence["fleet_denied_ids"], 30);
    assert!(t.take().is_none(), "nothing left to claim");
}

#[test]
fn under_the_thresholds_nothing_is_claimed_and_claims_waiting_survive_a_failed_exchange() {
    let mut t = FleetTally::new("c");
    let mut c = clients();
    t.object(&seen("1", true));
    t.take().unwrap();
    let under = TallyCounts {
        objects: vec![ObjectCounts {
            ids: 9,
            denied: 9,
            foreign: 0,
        }],
        ..TallyCounts::default()
    };
    assert!(answer(&mut t, &mut c, Some(under)).is_empty());
    assert!(t.take().is_none());

    // A fresh principal over the threshold, then the claim's exchange fails:
    // the finding is reported here rather than lost.
    let mut t = FleetTally::new("c");
    let mut c = clients();
    t.object(&seen("1", true));
    t.take().unwrap();
    let over = TallyCounts {
        objects: vec![ObjectCounts {
            ids: 10,
            denied: 10,
            foreign: 0,
        }],
        ..TallyCounts::default()
    };
    assert!(answer(&mut t, &mut c, Some(over)).is_empty());
    assert_eq!(t.take().unwrap().claims.len(), 1);
    let out = answer(&mut t, &mut c, None);
    assert_eq!(
        out.len(),
        1,
        "reported locally when the claim cannot be made"
    );
}

#[test]
fn an_entry_holds_at_most_max_hashes_per_exchange() {
    let mut t = FleetTally::new("a");
    let ids: Vec<String> = (0..MAX_HASHES + 10).map(|i| i.to_string()).collect();
    for id in &ids {
        t.object(&seen(id, false));
    }
    assert_eq!(t.dropped, 10);
    assert_eq!(t.take().unwrap().objects[0].ids.len(), MAX_HASHES);
}
