use std::collections::HashSet;
use std::net::IpAddr;

use palisade_models::{Finding, FindingId, FindingKind, Severity};
use palisade_store::{FindingFilter, MAX_PAGE, PageRequest, Store};

use crate::{finding, temp_store};

const BASE_MS: u64 = 1_700_000_000_000;

#[test]
fn findings_round_trip_and_a_retried_batch_does_not_duplicate() {
    let (_dir, store) = temp_store();
    let a = finding(
        FindingId::new(BASE_MS, 1),
        FindingKind::BolaEnumeration,
        Severity::High,
        Some("10.0.0.1".parse().unwrap()),
        Some("alice"),
        Some("GET /users/{id}"),
    );
    let b = finding(
        FindingId::new(BASE_MS + 1, 2),
        FindingKind::NewEndpoint,
        Severity::Info,
        None,
        None,
        Some("GET /admin"),
    );
    store.insert_findings(&[a.clone(), b.clone()]).unwrap();
    store.insert_findings(std::slice::from_ref(&a)).unwrap();
    store.insert_findings(&[]).unwrap();
    assert_eq!(store.count_findings().unwrap(), 2);
    assert_eq!(store.finding(a.id).unwrap(), Some(a.clone()));
    assert_eq!(store.finding(b.id).unwrap(), Some(b.clone()));
    assert_eq!(store.finding(FindingId::new(BASE_MS, 3)).unwrap(), None);

    let page = store
        .findings(
            &FindingFilter::default(),
            PageRequest {
                after: None,
                limit: 10,
            },
        )
        .unwrap();
    assert_eq!(page.items, [b, a]);
    assert_eq!(page.next, None);
}

/// 2,500 findings over about 14 minutes, several per millisecond-stamp, with kinds,
/// severities, clients and endpoints spread so that every filter keeps some.
fn corpus() -> Vec<Finding> {
    (0..2_500u64)
        .map(|i| {
            let ms = BASE_MS + (i / 3) * 1_000;
            // Scrambled random bits: ids within one millisecond do not follow `i`.
            let rand = u128::from(i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let ip: Option<IpAddr> = i
                .is_multiple_of(2)
                .then(|| format!("10.0.0.{}", i % 4).parse().expect("an address"));
            let subject = i.is_multiple_of(3).then(|| format!("user{}", i % 5));
            let endpoint = match i % 4 {
                0 => Some("GET /items/{id}"),
                1 => Some("POST /login"),
                _ => None,
            };
            finding(
                FindingId::new(ms, rand),
                FindingKind::ALL[(i % 11) as usize],
                Severity::ALL[((i / 7) % 5) as usize],
                ip,
                subject.as_deref(),
                endpoint,
            )
        })
        .collect()
}

fn all_pages(store: &Store, filter: &FindingFilter, limit: usize) -> Vec<FindingId> {
    let mut ids = Vec::new();
    let mut after = None;
    for _ in 0..=2_500 {
        let page = store
            .findings(filter, PageRequest { after, limit })
            .expect("a page");
        assert!(page.items.len() <= limit);
        ids.extend(page.items.iter().map(|f| f.id));
        match page.next {
            Some(next) => {
                assert_eq!(page.items.len(), limit, "only a full page has a next");
                assert_eq!(Some(next), page.items.last().map(|f| f.id));
                after = Some(next);
            }
            None => return ids,
        }
    }
    panic!("pagination did not end");
}

#[test]
fn pages_over_2500_findings_return_each_match_once_newest_first() {
    let (_dir, store) = temp_store();
    let all = corpus();
    // Inserted in batches, newest batch first: key order, not insertion order, counts.
    for chunk in all.chunks(500).rev() {
        store.insert_findings(chunk).unwrap();
    }
    assert_eq!(store.count_findings().unwrap(), 2_500);

    let since = all[1_800].id.unix_ms();
    type Oracle = fn(&Finding, u64) -> bool;
    let cases: Vec<(&str, FindingFilter, Oracle)> = vec![
        ("all", FindingFilter::default(), |_, _| true),
        (
            "kind",
            FindingFilter {
                kind: Some(FindingKind::Scraping),
                ..Default::default()
            },
            |f, _| f.kind == FindingKind::Scraping,
        ),
        (
            "severity",
            FindingFilter {
                min_severity: Some(Severity::High),
                ..Default::default()
            },
            |f, _| matches!(f.severity, Severity::High | Severity::Critical),
        ),
        (
            "client ip",
            FindingFilter {
                client: Some("10.0.0.2".into()),
                ..Default::default()
            },
            |f, _| f.client.ip == Some("10.0.0.2".parse().unwrap()),
        ),
        (
            "client subject",
            FindingFilter {
                client: Some("user3".into()),
                ..Default::default()
            },
            |f, _| f.client.subject.as_deref() == Some("user3"),
        ),
        (
            "endpoint",
            FindingFilter {
                endpoint: Some("GET /items/{id}".into()),
                ..Default::default()
            },
            |f, _| f.endpoint.as_deref() == Some("GET /items/{id}"),
        ),
        (
            "since",
            FindingFilter {
                since_ms: Some(since),
                ..Default::default()
            },
            |f, since| f.id.unix_ms() >= since,
        ),
        (
            "combined",
            FindingFilter {
                min_severity: Some(Severity::Low),
                client: Some("user3".into()),
                endpoint: Some("POST /login".into()),
                since_ms: Some(BASE_MS + 60_000),
                ..Default::default()
            },
            |f, _| {
                f.severity >= Severity::Low
                    && f.client.subject.as_deref() == Some("user3")
                    && f.endpoint.as_deref() == Some("POST /login")
                    && f.id.unix_ms() >= BASE_MS + 60_000
            },
        ),
        (
            "nothing",
            FindingFilter {
                kind: Some(FindingKind::NewEndpoint),
                client: Some("nobody".into()),
                ..Default::default()
            },
            |_, _| false,
        ),
    ];

    for (name, filter, oracle) in &cases {
        let mut expected: Vec<FindingId> = all
            .iter()
            .filter(|f| oracle(f, since))
            .map(|f| f.id)
            .collect();
        expected.sort_by(|a, b| b.cmp(a));
        assert!(
            *name == "nothing" || !expected.is_empty(),
            "{name}: the corpus must exercise the filter"
        );
        for limit in [97, MAX_PAGE] {
            let got = all_pages(&store, filter, limit);
            let unique: HashSet<_> = got.iter().collect();
            assert_eq!(unique.len(), got.len(), "{name}/{limit}: no finding twice");
            assert_eq!(got, expected, "{name}/{limit}: every match, newest first");
        }
    }
}

#[test]
fn page_limits_are_clamped_and_bounds_are_exclusive() {
    let (_dir, store) = temp_store();
    let all = corpus();
    store.insert_findings(&all).unwrap();
    let any = FindingFilter::default();

    let big = store
        .findings(
            &any,
            PageRequest {
                after: None,
                limit: 5_000,
            },
        )
        .unwrap();
    assert_eq!(big.items.len(), MAX_PAGE);
    assert_eq!(big.next, big.items.last().map(|f| f.id));

    let one = store
        .findings(
            &any,
            PageRequest {
                after: None,
                limit: 0,
            },
        )
        .unwrap();
    assert_eq!(one.items.len(), 1, "a zero limit still makes progress");

    let newest = all.iter().map(|f| f.id).max().unwrap();
    assert_eq!(one.items[0].id, newest);
    let after_newest = store
        .findings(
            &any,
            PageRequest {
                after: Some(newest),
                limit: 1,
            },
        )
        .unwrap();
    assert!(after_newest.items[0].id < newest, "`after` is exclusive");

    let future = FindingFilter {
        since_ms: Some(u64::MAX),
        ..Default::default()
    };
    assert!(
        store
            .findings(
                &future,
                PageRequest {
                    after: None,
                    limit: 10
                }
            )
            .unwrap()
            .items
            .is_empty()
    );
    let oldest = all.iter().map(|f| f.id).min().unwrap();
    let before_oldest = store
        .findings(
            &any,
            PageRequest {
                after: Some(oldest),
                limit: 10,
            },
        )
        .unwrap();
    assert_eq!(before_oldest.items, []);
    assert_eq!(before_oldest.next, None);
}
