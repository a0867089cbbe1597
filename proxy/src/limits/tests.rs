use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, UNIX_EPOCH};

use palisade_models::ManualClock;

use super::*;

/// The limits and each declared route's limiter, as the route table holds them.
struct Limits {
    limits: RateLimits,
    routes: Vec<Option<Arc<RouteLimiter>>>,
}

impl Limits {
    fn check(&self, route: Option<usize>, client: &ClientKeys<'_>) -> Result<(), Limited> {
        let limiter = match route {
            Some(i) => self.routes[i].as_ref(),
            None => self.limits.undeclared(),
        };
        self.limits.check(limiter, client).map(|_| ())
    }

    fn sweep(&self) -> SweepReport {
        self.limits.sweep()
    }
}

fn limits(routes: &str, extra: &str) -> (Limits, Arc<ManualClock>) {
    let text = format!("[upstream]\nurl = \"http://127.0.0.1:1\"\n{extra}\n{routes}");
    let config = Config::parse(&text).unwrap();
    let clock = Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(1_000_000),
    ));
    let limits = RateLimits::build(&config, clock.clone()).unwrap();
    let default = config.routes.rate_limit.as_ref();
    let routes = config
        .route
        .iter()
        .map(|r| {
            r.rate_limit
                .as_ref()
                .or(default)
                .map(|l| limits.route_limiter(l, &r.path).unwrap())
        })
        .collect();
    (Limits { limits, routes }, clock)
}

fn ip(n: u32) -> ClientKeys<'static> {
    ClientKeys {
        ip: IpAddr::V4(Ipv4Addr::from_bits(n)),
        subject: None,
        api_key_id: None,
    }
}

/// How many of `n` requests in a row are allowed.
fn allowed(l: &Limits, route: Option<usize>, client: &ClientKeys<'_>, n: usize) -> usize {
    (0..n).filter(|_| l.check(route, client).is_ok()).count()
}

#[test]
fn a_client_gets_its_burst_then_one_per_period() {
    let (l, clock) = limits(
        "[[route]]\npath = \"/a\"\nrate_limit = { client = \"3/min\" }",
        "",
    );
    let c = ip(1);
    assert_eq!(allowed(&l, Some(0), &c, 10), 3);
    let refused = l.check(Some(0), &c).unwrap_err();
    assert_eq!(
        refused.retry_after_secs, 20,
        "3/min replenishes one every 20s"
    );
    assert_eq!(
        refused.policy,
        Policy {
            limit: 3,
            window_secs: 60
        }
    );
    assert!(!refused.global);
    clock.advance(Duration::from_secs(19));
    assert_eq!(l.check(Some(0), &c).unwrap_err().retry_after_secs, 1);
    clock.advance(Duration::from_secs(1));
    assert_eq!(allowed(&l, Some(0), &c, 10), 1);
    clock.advance(Duration::from_secs(60));
    assert_eq!(allowed(&l, Some(0), &c, 10), 3);
}

#[test]
fn clients_and_routes_are_counted_apart() {
    let (l, _clock) = limits(
        "[[route]]\npath = \"/a\"\nrate_limit = { client = \"2/s\" }\n\
         [[route]]\npath = \"/b\"\nrate_limit = { client = \"2/s\" }\n\
         [[route]]\npath = \"/free\"",
        "",
    );
    assert_eq!(allowed(&l, Some(0), &ip(1), 5), 2);
    assert_eq!(allowed(&l, Some(0), &ip(2), 5), 2);
    assert_eq!(allowed(&l, Some(1), &ip(1), 5), 2);
    assert_eq!(allowed(&l, Some(2), &ip(1), 50), 50);
    assert_eq!(allowed(&l, None, &ip(1), 50), 50, "no default limit set");
}

#[test]
fn the_global_limit_spans_clients_and_is_not_spent_by_refused_ones() {
    let (l, clock) = limits(
        "[[route]]\npath = \"/a\"\nrate_limit = { client = \"2/s\", global = \"5/s\" }",
        "",
    );
    assert_eq!(allowed(&l, Some(0), &ip(1), 10), 2);
    assert_eq!(allowed(&l, Some(0), &ip(2), 10), 2);
    assert_eq!(
        allowed(&l, Some(0), &ip(3), 10),
        1,
        "the global 5/s is spent"
    );
    let refused = l.check(Some(0), &ip(4)).unwrap_err();
    assert!(refused.global);
    assert_eq!(refused.policy.limit, 5);
    clock.advance(Duration::from_secs(1));
    // ip(1) is refused by its own limit eight times; the global allowance is
    // untouched by those and still serves the others.
    for _ in 0..8 {
        let _ = l.check(Some(0), &ip(1));
    }
    assert_eq!(allowed(&l, Some(0), &ip(5), 10), 2);
    assert_eq!(allowed(&l, Some(0), &ip(6), 10), 1);
}

#[test]
fn bursts_and_the_default_limit_apply() {
    let (l, _clock) = limits(
        "[[route]]\npath = \"/a\"\n[[route]]\npath = \"/b\"\nrate_limit = { client = \"100/min\", client_burst = 4 }",
        "[routes]\nunknown = \"allow\"\nrate_limit = { client = \"1/min\" }",
    );
    assert_eq!(
        allowed(&l, Some(0), &ip(1), 5),
        1,
        "routes.rate_limit applies"
    );
    assert_eq!(allowed(&l, None, &ip(1), 5), 1, "and to undeclared paths");
    assert_eq!(allowed(&l, Some(1), &ip(1), 10), 4, "client_burst");
}

#[test]
fn a_million_clients_come_and_go_and_memory_returns() {
    let (l, clock) = limits(
        "[[route]]\npath = \"/a\"\nrate_limit = { client = \"1/s\" }",
        "[rate_limits]\nnew_keys_per_interval = 2000000",
    );
    const N: u32 = 1_000_000;
    for n in 0..N {
        assert!(l.check(Some(0), &ip(n)).is_ok());
    }
    // Not swept yet: every client is remembered, refused on a second try.
    let before = l.sweep();
    assert_eq!(before.tracked, N as usize);
    assert!(l.check(Some(0), &ip(7)).is_err());
    let entry = std::mem::size_of::<(LimitKey, std::sync::atomic::AtomicU64)>();
    let grown = before.capacity * entry;
    eprintln!(
        "1M clients: {} slots, {} bytes of table",
        before.capacity, grown
    );
    clock.advance(Duration::from_secs(2));
    let after = l.sweep();
    assert_eq!(after.tracked, 0, "idle clients are dropped");
    assert!(
        after.capacity * entry < 64 * 1024,
        "table memory is returned: {} bytes after a sweep, {} before",
        after.capacity * entry,
        grown
    );
    assert!(
        l.check(Some(0), &ip(7)).is_ok(),
        "a dropped client starts fresh"
    );
}

#[test]
fn new_clients_over_the_budget_share_one_bucket() {
    let (l, clock) = limits(
        "[[route]]\npath = \"/a\"\nrate_limit = { client = \"1/s\" }",
        "[rate_limits]\nnew_keys_per_interval = 1000",
    );
    let passed = (0..100_000)
        .filter(|&n| l.check(Some(0), &ip(n)).is_ok())
        .count();
    // 1000 admitted clients, plus the shared bucket's single burst.
    assert_eq!(passed, 1001);
    let report = l.sweep();
    assert_eq!(report.tracked, 1000);
    assert_eq!(report.overflowed, 99_000);
    // After the sweep the budget is renewed, and the first 1000 stay tracked
    // until their state is stale.
    assert!(l.check(Some(0), &ip(500_000)).is_ok());
    assert!(l.check(Some(0), &ip(5)).is_err());
    clock.advance(Duration::from_secs(1));
    assert!(l.check(Some(0), &ip(5)).is_ok());
}

#[test]
fn subjects_are_limited_across_addresses() {
    let (l, _clock) = limits(
        "[[route]]\npath = \"/a\"\nrate_limit = { client = \"2/s\" }",
        "",
    );
    let from = |n: u32| ClientKeys {
        ip: IpAddr::V4(Ipv4Addr::from_bits(n)),
        subject: Some("alice"),
        api_key_id: None,
    };
    assert!(l.check(Some(0), &from(1)).is_ok());
    assert!(l.check(Some(0), &from(2)).is_ok());
    assert!(l.check(Some(0), &from(3)).is_err());
    assert!(
        l.check(Some(0), &ip(3)).is_ok(),
        "anonymous clients by address"
    );
}
