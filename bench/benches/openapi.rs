//! Criterion micro-benchmarks of OpenAPI request validation
//! (`palisade_openapi::Operation`), what the proxy's validate phase pays per
//! request on a validated route, with the shop spec of the tests
//! (openapi/fixtures/shop.yaml), its validators compiled once outside the
//! timed section, as at load.
//!
//! - `openapi/json_body_1k`: a valid 1 KiB JSON body for `createOrder` (21
//!   order items, a nested shipping address, a date-time, a uuid): parse,
//!   schema, undeclared-property walk. Target ≤ 5 µs.
//! - `openapi/json_body_1k_violation`: the same body with one broken rule, the
//!   path that names it.
//! - `openapi/query_params`: `GET /users?page=2&limit=50&role=member&tag=a&tag=b`.
//!
//! Run: `cargo bench -p palisade-bench --bench openapi`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::HeaderMap;
use palisade_models::config::UnknownPolicy;
use palisade_openapi::{BodyInput, Report, Spec, SpecOptions};

/// A createOrder body of about 1 KiB.
fn order_body(quantity: u32) -> Vec<u8> {
    let items: Vec<String> = (0..21)
        .map(|i| {
            format!(
                r#"{{"sku":"BKS-{:04}","quantity":{}}}"#,
                1000 + i,
                quantity.max(1) + i % 3
            )
        })
        .collect();
    let body = format!(
        r#"{{"items":[{}],"currency":"EUR","note":"Please leave the parcel at the back door; ring twice. Gift wrap the red one.","shipping":{{"address":{{"street":"221B Baker Street","city":"London","zip":"{}"}},"express":true}},"placed_at":"2026-11-30T17:45:12Z","customer_id":"c0a8012e-1f2b-4c3d-9e8f-7a6b5c4d3e2f"}}"#,
        items.join(","),
        if quantity == 0 { "NW1" } else { "12345" },
    );
    body.into_bytes()
}

fn benches(c: &mut Criterion) {
    let path = palisade_models::crate_dir!().join("../openapi/fixtures/shop.yaml");
    let spec = Spec::load(&path, &SpecOptions::default()).expect("the shop spec loads");
    let create = spec.by_id("createOrder").expect("createOrder");
    let list = spec.by_id("listUsers").expect("listUsers");
    let valid = order_body(2);
    let invalid = order_body(0);
    eprintln!("openapi: body {} bytes", valid.len());
    assert!((900..=1200).contains(&valid.len()), "about 1 KiB");

    let check = |body: &[u8]| {
        let mut out = Report::default();
        create.check_body(
            BodyInput {
                content_type: Some(b"application/json"),
                bytes: body,
                complete: true,
            },
            UnknownPolicy::Flag,
            &mut out,
        );
        out
    };
    assert!(check(&valid).is_empty(), "{:?}", check(&valid).violations());
    assert_eq!(check(&invalid).violations().len(), 1);
    let headers = HeaderMap::new();
    let query = "page=2&limit=50&role=member&tag=a&tag=b";
    let head = || {
        let mut out = Report::default();
        list.check_head(
            |_| None,
            Some(query),
            &headers,
            UnknownPolicy::Flag,
            &mut out,
        );
        out
    };
    assert!(head().is_empty());

    let mut g = c.benchmark_group("openapi");
    g.throughput(Throughput::Elements(1));
    g.bench_function("json_body_1k", |b| b.iter(|| check(black_box(&valid))));
    g.bench_function("json_body_1k_violation", |b| {
        b.iter(|| check(black_box(&invalid)))
    });
    g.bench_function("query_params", |b| b.iter(|| black_box(head())));
    g.finish();
}

criterion_group!(openapi, benches);
criterion_main!(openapi);
