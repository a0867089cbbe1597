use super::*;
use crate::frame;
use crate::testutil::{Req, window};

/// 05:00 UTC on some day, ms.
const T0: u64 = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000 + 5 * 3_600_000;

fn settings() -> Settings {
    Settings {
        bucket_us: 10_000_000,
        client_window_us: 60_000_000,
    }
}

#[test]
fn load_shed_by_the_proxy_is_not_an_endpoint_server_error() {
    // 100 requests: 10 answered 500 by the upstream, 30 answered 503 by the
    // proxy shedding load.
    let reqs = (0..100u64).map(|i| {
        let mut r = Req::get(T0 + i * 100, [10, 0, 0, 1], "GET /c", "/c".into());
        if i < 10 {
            r.status = 500;
        } else if i < 40 {
            r.status = 503;
            r.deny = Some(palisade_models::DenyCode::Overloaded);
        }
        r
    });
    let f = frame::build(&window(reqs)).unwrap();
    let b = compute(&f, &settings()).unwrap();
    let c = &b.endpoints["GET /c"];
    assert!(
        (c.server_error_ratio - 0.1).abs() < 1e-9,
        "{}",
        c.server_error_ratio
    );
}

#[test]
fn endpoint_baselines_are_robust_statistics_of_rate_latency_and_failures() {
    // GET /a: one request a second for ten minutes from 10.0.0.1, latencies
    // cycling 1000..=1900 µs, every tenth answered 500. GET /b: from alice, one
    // every two seconds, every fourth 401.
    let mut reqs = Vec::new();
    for i in 0..600u64 {
        let mut r = Req::get(T0 + i * 1000, [10, 0, 0, 1], "GET /a", "/a".into());
        r.latency_us = 1000 + (i % 10) * 100;
        r.status = if i % 10 == 9 { 500 } else { 200 };
        reqs.push(r);
        if i.is_multiple_of(2) {
            let mut r = Req::get(T0 + i * 1000 + 1, [10, 0, 0, 2], "GET /b", "/b".into());
            r.subject = Some("alice");
            r.status = if (i / 2).is_multiple_of(4) { 401 } else { 200 };
            reqs.push(r);
        }
    }
    let f = frame::build(&window(reqs)).unwrap();
    assert_eq!(f.df.height(), 900);
    let b = compute(&f, &settings()).unwrap();

    let a = &b.endpoints["GET /a"];
    assert_eq!(a.requests, 600);
    assert_eq!(a.buckets, 60);
    assert_eq!(a.rate.median, 10.0, "ten a bucket");
    assert_eq!(a.rate.mad, 0.0);
    assert_eq!(a.latency_us.median, 1450.0);
    assert_eq!(a.latency_us.mad, 250.0);
    assert!(
        (1850.0..=1900.0).contains(&a.latency_us.p95),
        "{:?}",
        a.latency_us
    );
    assert!(
        (1890.0..=1900.0).contains(&a.latency_us.p99),
        "{:?}",
        a.latency_us
    );
    assert!((a.server_error_ratio - 0.1).abs() < 1e-9);
    assert!((a.failure_ratio - 0.1).abs() < 1e-9);
    assert_eq!(a.auth_failure_ratio, 0.0);
    assert_eq!(a.by_hour.len(), 1, "ten minutes: one hour of the day");
    assert_eq!(a.by_hour[0].hour, 5);
    assert_eq!(a.by_hour[0].buckets, 60);
    assert_eq!(a.hour(5, 30).map(|h| h.rate.median), Some(10.0));
    assert!(a.hour(6, 1).is_none());

    let bb = &b.endpoints["GET /b"];
    assert_eq!(bb.requests, 300);
    assert_eq!(bb.rate.median, 5.0);
    assert!((bb.auth_failure_ratio - 0.25).abs() < 1e-9);

    let ip = &b.clients[&ClientName::Ip("10.0.0.1".parse().unwrap())];
    assert_eq!(ip.requests, 600);
    assert_eq!(ip.rate.median, 60.0, "sixty a client window");
    assert!((ip.failure_ratio - 0.1).abs() < 1e-9);
    let alice = &b.clients[&ClientName::Subject("alice".into())];
    assert_eq!(alice.requests, 300, "the principal, not its address");
    assert!((alice.auth_failure_ratio - 0.25).abs() < 1e-9);
    assert!(
        !b.clients
            .contains_key(&ClientName::Ip("10.0.0.2".parse().unwrap())),
        "an authenticated client is counted as its principal"
    );
}

#[test]
fn hours_of_the_day_are_kept_apart() {
    // A quiet hour (one request a minute) and a busy one (one a second).
    let mut reqs = Vec::new();
    for i in 0..60u64 {
        reqs.push(Req::get(
            T0 + i * 60_000,
            [10, 0, 0, 1],
            "GET /a",
            "/a".into(),
        ));
    }
    for i in 0..3600u64 {
        reqs.push(Req::get(
            T0 + 3_600_000 + i * 1000,
            [10, 0, 0, 1],
            "GET /a",
            "/a".into(),
        ));
    }
    let f = frame::build(&window(reqs)).unwrap();
    let b = compute(&f, &settings()).unwrap();
    let a = &b.endpoints["GET /a"];
    assert_eq!(a.by_hour.len(), 2);
    assert_eq!(a.by_hour[0].hour, 5);
    assert_eq!(a.by_hour[0].rate.median, 1.0);
    assert_eq!(a.by_hour[1].hour, 6);
    assert_eq!(a.by_hour[1].rate.median, 10.0);
    assert_eq!(a.by_hour[1].buckets, 360);
}

#[test]
fn an_empty_window_has_no_baselines() {
    let f = frame::build(&Default::default()).unwrap();
    let b = compute(&f, &settings()).unwrap();
    assert!(b.endpoints.is_empty());
    assert!(b.clients.is_empty());
}
