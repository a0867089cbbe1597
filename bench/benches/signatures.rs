//! Criterion micro-benchmarks of the attack-signature engine
//! (`palisade_signatures::Engine::inspect`), what the proxy's inspect phase pays
//! per request with the bundled rules at paranoia 1.
//!
//! - `signatures/clean_get`: a GET with four query parameters and typical browser
//!   and API headers (user agent, referer, cookies, accept*). Target ≤ 2 µs.
//! - `signatures/clean_json_post`: a small JSON POST (six fields). Target ≤ 2 µs.
//! - `signatures/attack_sqli_query`: a UNION-based SQL injection in a query
//!   parameter. Target ≤ 20 µs.
//! - `signatures/attack_xss_json`: script injection in a JSON string value.
//! - `signatures/attack_rce_form`: command injection in a form body.
//!
//! The engine and the per-worker `Scratch` are built outside the timed section,
//! as in the proxy (one engine shared, one scratch per worker).
//!
//! Run: `cargo bench -p palisade-bench --bench signatures`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use palisade_signatures::{Engine, EngineOptions, Request, Scratch};

const HEADERS: &[(&str, &[u8])] = &[
    ("host", b"api.example.com"),
    (
        "user-agent",
        b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    ),
    ("accept", b"application/json, text/plain, */*"),
    ("accept-language", b"en-GB,en;q=0.9"),
    ("accept-encoding", b"gzip, deflate, br"),
    ("referer", b"https://app.example.com/orders?page=2"),
    (
        "cookie",
        b"session=3f9a1c2e7b4d4e8a9c1f0a2b3c4d5e6f; theme=dark; _ga=GA1.2.1234567890.1700000000",
    ),
    ("x-request-id", b"0194f3a2-7c1e-7d4b-9a8f-3b2c1d0e4f5a"),
];

const JSON_BODY: &[u8] = br#"{"customer_id":"c0a8012e-1f2b-4c3d-9e8f-7a6b5c4d3e2f","items":[{"sku":"BK-1042","qty":2}],"note":"Please leave the parcel at the back door.","currency":"EUR","total":59.90,"gift":false}"#;

fn benches(c: &mut Criterion) {
    let engine = Engine::bundled(EngineOptions::default()).expect("bundled rules load");
    eprintln!("signatures: {} rules loaded", engine.rule_count());
    let mut scratch = Scratch::default();

    let clean_get = Request::new("GET", b"/api/v1/orders")
        .query(b"page=2&limit=50&sort=-created_at&status=shipped")
        .headers(HEADERS);
    let clean_post = Request::new("POST", b"/api/v1/orders")
        .headers(HEADERS)
        .body("application/json", JSON_BODY);
    let sqli = Request::new("GET", b"/api/v1/orders")
        .query(b"page=2&status=shipped%27+UNION+ALL+SELECT+username%2Cpassword+FROM+users--")
        .headers(HEADERS);
    let xss_body = br#"{"customer_id":"c0a8012e","note":"<img src=x onerror=alert(document.cookie)>","total":1}"#;
    let xss = Request::new("POST", b"/api/v1/orders")
        .headers(HEADERS)
        .body("application/json", xss_body);
    let rce = Request::new("POST", b"/api/v1/ping").headers(HEADERS).body(
        "application/x-www-form-urlencoded",
        b"host=127.0.0.1%3Bcat+%2Fetc%2Fpasswd&count=3",
    );

    for (req, blocked) in [
        (&clean_get, false),
        (&clean_post, false),
        (&sqli, true),
        (&xss, true),
        (&rce, true),
    ] {
        assert_eq!(
            engine.inspect(req, &mut scratch).blocked,
            blocked,
            "{req:?}"
        );
    }

    let mut g = c.benchmark_group("signatures");
    g.throughput(Throughput::Elements(1));
    for (name, req) in [
        ("clean_get", &clean_get),
        ("clean_json_post", &clean_post),
        ("attack_sqli_query", &sqli),
        ("attack_xss_json", &xss),
        ("attack_rce_form", &rce),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| black_box(engine.inspect(black_box(req), &mut scratch)));
        });
    }
    g.finish();
}

criterion_group!(signatures, benches);
criterion_main!(signatures);
