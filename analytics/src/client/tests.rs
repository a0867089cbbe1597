//! Tests of client state and the client table.

use std::net::IpAddr;

use super::*;

fn ip(i: u32) -> ClientRef<'static> {
    ClientRef::Ip(IpAddr::from((0x0a00_0000 + i).to_be_bytes()))
}

#[test]
fn state_fits_the_budget() {
    let entry = std::mem::size_of::<ClientState>() + std::mem::size_of::<(ClientKey, Slot)>();
    assert!(entry <= 1024, "{entry} bytes per tracked client");
}

#[test]
fn a_million_clients_fit_in_a_gibibyte() {
    let mut t = Clients::new(1_000_000);
    for i in 0..1_000_000 {
        assert!(t.entry(ip(i), 0, 1000, 10_000).is_some());
    }
    let bytes = t.table_bytes();
    assert!(
        bytes <= 1 << 30,
        "{bytes} bytes for 1M clients ({} per client)",
        bytes / 1_000_000
    );
}

#[test]
fn windows_roll_and_keep_one_previous() {
    let mut c = ClientState::new(0, 60_000);
    c.counts.cur.requests = 5;
    assert_eq!(c.advance(59_999, 60_000), None);
    assert_eq!(c.advance(60_000, 60_000), Some(5));
    c.counts.cur.requests = 2;
    assert_eq!(c.total(|c| c.requests), 7);
    assert_eq!(c.advance(200_000, 60_000), Some(2));
    assert_eq!(c.total(|c| c.requests), 0);
}

#[test]
fn lookups_by_borrowed_keys_find_owned_ones() {
    let mut t = Clients::new(10);
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    let alice = t
        .entry(ClientRef::Subject("alice"), 0, 1000, 10_000)
        .unwrap();
    t.at_mut(alice).counts.cur.requests = 3;
    t.entry(ClientRef::Ip(ip), 0, 1000, 10_000).unwrap();
    assert_eq!(
        t.entry(ClientRef::Subject("alice"), 5, 1000, 10_000),
        Some(alice)
    );
    assert_eq!(
        t.get(ClientRef::Subject("alice"))
            .unwrap()
            .counts
            .cur
            .requests,
        3
    );
    assert!(t.get(ClientRef::ApiKey("alice")).is_none());
    assert_eq!(t.len(), 2);
}

#[test]
fn full_table_evicts_idle_then_refuses() {
    let mut t = Clients::new(2);
    for i in 0..2u8 {
        t.entry(ClientRef::Ip(IpAddr::from([10, 0, 0, i])), 0, 1000, 40_000);
    }
    // Nobody idle long enough: the third is not tracked.
    assert!(
        t.entry(
            ClientRef::Ip(IpAddr::from([10, 0, 0, 9])),
            5_000,
            1000,
            40_000
        )
        .is_none()
    );
    assert_eq!(t.untracked, 1);
    // A quarter of the idle time later, the old ones make room.
    assert!(
        t.entry(
            ClientRef::Ip(IpAddr::from([10, 0, 0, 9])),
            20_000,
            1000,
            40_000
        )
        .is_some()
    );
    assert_eq!(t.len(), 1);
}

#[test]
fn evicted_slots_are_reused_with_fresh_state() {
    let mut t = Clients::new(10);
    let a = t.entry(ip(1), 0, 1000, 10_000).unwrap();
    t.at_mut(a).counts.cur.requests = 7;
    assert_eq!(t.evict_idle(20_000, 10_000), 1);
    assert!(t.get(ip(1)).is_none());
    let b = t.entry(ip(2), 20_000, 1000, 10_000).unwrap();
    assert_eq!(b, a, "the freed slot is taken first");
    assert_eq!(t.at(b).counts.cur.requests, 0);
    assert_eq!(t.at(b).first_seen_ms, 20_000);
}

#[test]
fn a_flood_of_clients_gives_its_memory_back_and_survivors_keep_their_state() {
    let mut t = Clients::new(100_000);
    for i in 0..50_000 {
        let s = t.entry(ip(i), 0, 1000, 10_000).unwrap();
        t.at_mut(s).counts.cur.requests = i;
    }
    let full = t.table_bytes();
    // Every 100th client stays active; the others go idle.
    for i in (0..50_000).step_by(100) {
        let s = t.entry(ip(i), 60_000, 1000, 10_000).unwrap();
        t.at_mut(s).last_seen_ms = 60_000;
    }
    assert_eq!(t.evict_idle(65_000, 10_000), 49_500);
    assert_eq!(t.len(), 500);
    let after = t.table_bytes();
    assert!(
        after * 10 < full,
        "{after} bytes after eviction, {full} before"
    );
    for i in (0..50_000).step_by(100) {
        assert_eq!(
            t.get(ip(i)).map(|c| c.counts.cur.requests),
            Some(i),
            "client {i}"
        );
    }
    for (_, c) in t.iter() {
        assert_eq!(c.last_seen_ms, 60_000);
    }
    // New clients still find room, and the old ones keep their slots' state.
    for i in 50_000..60_000 {
        assert!(t.entry(ip(i), 65_000, 1000, 10_000).is_some());
    }
    assert_eq!(t.get(ip(100)).map(|c| c.counts.cur.requests), Some(100));
}
