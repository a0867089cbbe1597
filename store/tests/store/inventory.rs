use palisade_models::EndpointInfo;

use crate::temp_store;

fn endpoint(method: &str, template: &str, requests: u64) -> EndpointInfo {
    EndpointInfo {
        method: method.into(),
        template: template.into(),
        declared: requests.is_multiple_of(2),
        first_seen_ms: 1_000,
        last_seen_ms: 2_000 + requests,
        requests,
        status_classes: [0, requests, 0, 1, 0],
        unauthorized: 1,
        forbidden: 0,
        not_found: 0,
        auth_none: 0,
        auth_jwt: requests,
        auth_api_key: 0,
        rate_1m: 1.5,
        rate_10m: 1.25,
        rate_1h: 0.5,
        latency_p50_us: 800,
        latency_p95_us: 2_000,
        latency_p99_us: 9_000,
        bytes_out_avg: 512.5,
        latency_counts: vec![requests; 13],
        latency_sum_us: 800 * requests,
        upstream_answered: 0,
        params_seen: Vec::new(),
    }
}

#[test]
fn inventory_is_replaced_whole_and_snapshots_are_upserted_by_name() {
    let (_dir, store) = temp_store();
    assert!(store.endpoints().unwrap().is_empty());
    assert_eq!(store.snapshot("baselines").unwrap(), None);

    let users = endpoint("GET", "/users/{id}", 10);
    let login = endpoint("POST", "/login", 3);
    store
        .put_inventory(
            &[users.clone(), login.clone()],
            &[
                ("baselines", b"v1".as_slice()),
                ("clients", b"c1".as_slice()),
            ],
        )
        .unwrap();
    assert_eq!(store.endpoints().unwrap(), [users.clone(), login.clone()]);
    assert_eq!(
        store.snapshot("baselines").unwrap().as_deref(),
        Some(&b"v1"[..])
    );

    // The next tick: /login is gone, /users changed, /items is new; one snapshot moves on.
    let users2 = endpoint("GET", "/users/{id}", 20);
    let items = endpoint("GET", "/items", 1);
    store
        .put_inventory(
            &[items.clone(), users2.clone()],
            &[("baselines", b"v2".as_slice())],
        )
        .unwrap();
    assert_eq!(
        store.endpoints().unwrap(),
        [items, users2],
        "exactly the last inventory, by \"METHOD template\""
    );
    assert_eq!(
        store.snapshot("baselines").unwrap().as_deref(),
        Some(&b"v2"[..])
    );
    assert_eq!(
        store.snapshot("clients").unwrap().as_deref(),
        Some(&b"c1"[..]),
        "a snapshot not written this tick is kept"
    );
}
