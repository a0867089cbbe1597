//! Sample requests for the engine's benchmarks (`bench/benches/signatures.rs`
//! and the instruction-count example `inspect_cost`), defined once so both
//! measure the same thing: two clean API requests and three typical attacks.
//!
//! Must not be used on the request path or as detection figures: these are
//! five requests, not a corpus.

use crate::request::Request;

/// Headers of a browser-driven API call: a user agent, a referer, cookies,
/// content negotiation and a request id.
pub const HEADERS: &[(&str, &[u8])] = &[
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

const XSS_BODY: &[u8] =
    br#"{"customer_id":"c0a8012e","note":"<img src=x onerror=alert(document.cookie)>","total":1}"#;

/// One sample: its benchmark name, the request, and whether the bundled rules
/// at the default options block it.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// The benchmark name (`clean_get`, `attack_sqli_query`, ...).
    pub name: &'static str,
    /// The request.
    pub request: Request<'static>,
    /// Whether the bundled rules block it.
    pub blocked: bool,
}

/// The headers of [`HEADERS`] as the `i`-th of many distinct clients sends
/// them: its own browser build, page, session cookie and request id, so no
/// value repeats across `i` (what a worker's memo of clean header values
/// cannot help with).
pub fn client_headers(i: usize) -> Vec<(&'static str, Vec<u8>)> {
    HEADERS
        .iter()
        .map(|&(name, value)| {
            let value = match name {
                "user-agent" => format!(
                    "Mozilla/5.0 (X11; Linux x86_64; rv:128.{i}) Gecko/20100101 Firefox/128.{i}"
                )
                .into_bytes(),
                "referer" => format!("https://app.example.com/orders?page={i}").into_bytes(),
                "cookie" => format!(
                    "session={:032x}; theme=dark; _ga=GA1.2.{}.1700000000",
                    (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835),
                    1_234_567_890 + i
                )
                .into_bytes(),
                "x-request-id" => format!("0194f3a2-7c1e-7d4b-9a8f-{i:012x}").into_bytes(),
                _ => value.to_vec(),
            };
            (name, value)
        })
        .collect()
}

/// The benchmark samples, clean ones first.
pub fn bench_samples() -> [Sample; 5] {
    [
        Sample {
            name: "clean_get",
            request: Request::new("GET", b"/api/v1/orders")
                .query(b"page=2&limit=50&sort=-created_at&status=shipped")
                .headers(HEADERS),
            blocked: false,
        },
        Sample {
            name: "clean_json_post",
            request: Request::new("POST", b"/api/v1/orders")
                .headers(HEADERS)
                .body("application/json", JSON_BODY),
            blocked: false,
        },
        Sample {
            name: "attack_sqli_query",
            request: Request::new("GET", b"/api/v1/orders")
                .query(
                    b"page=2&status=shipped%27+UNION+ALL+SELECT+username%2Cpassword+FROM+users--",
                )
                .headers(HEADERS),
            blocked: true,
        },
        Sample {
            name: "attack_xss_json",
            request: Request::new("POST", b"/api/v1/orders")
                .headers(HEADERS)
                .body("application/json", XSS_BODY),
            blocked: true,
        },
        Sample {
            name: "attack_rce_form",
            request: Request::new("POST", b"/api/v1/ping").headers(HEADERS).body(
                "application/x-www-form-urlencoded",
                b"host=127.0.0.1%3Bcat+%2Fetc%2Fpasswd&count=3",
            ),
            blocked: true,
        },
    ]
}
