//! Rate limits end to end: exact counts under an injected clock, 429 with
//! `Retry-After` and the RateLimit headers, the per-route global limit, per-route
//! head caps, and a refused request never reaching the upstream.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use http::StatusCode;
use palisade_models::{DenyCode, ManualClock, Phase};
use palisade_tests::sidecar::{Options, Sidecar};
use palisade_tests::upstream::Upstream;

const CONFIG: &str = r#"
    [routes]
    unknown = "deny"
    [[route]]
    path = "/api/login"
    methods = ["POST"]
    rate_limit = { client = "3/min" }
    [[route]]
    path = "/api/search"
    rate_limit = { client = "100/s", global = "4/s" }
    max_url_bytes = 64
    max_header_bytes = 2048
    [[route]]
    path = "/api/free"
"#;

fn start(up: &Upstream) -> (Sidecar, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    ));
    let side = Sidecar::start_with(
        &up.url(),
        CONFIG,
        Options {
            clock: Some(clock.clone()),
            no_analytics: true,
        },
    );
    (side, clock)
}

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn a_client_over_its_limit_gets_429_with_when_to_come_back() {
    let up = Upstream::echo().await;
    let (side, clock) = start(&up);
    let http = reqwest::Client::new();
    let login = || http.post(side.url("/api/login")).body("{}").send();
    for _ in 0..3 {
        assert_eq!(login().await.unwrap().status(), StatusCode::OK);
    }
    let refused = login().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&refused, "retry-after").as_deref(), Some("20"));
    assert_eq!(header(&refused, "ratelimit-limit").as_deref(), Some("3"));
    assert_eq!(
        header(&refused, "ratelimit-remaining").as_deref(),
        Some("0")
    );
    assert_eq!(header(&refused, "ratelimit-reset").as_deref(), Some("20"));
    assert_eq!(
        header(&refused, "ratelimit-policy").as_deref(),
        Some("3;w=60")
    );
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("\"reason\":\"rate_limited\"")
    );
    assert_eq!(
        up.count(),
        3,
        "the refused request never reached the upstream"
    );

    clock.advance(Duration::from_secs(15));
    let still = login().await.unwrap();
    assert_eq!(still.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&still, "retry-after").as_deref(), Some("5"));
    clock.advance(Duration::from_secs(5));
    assert_eq!(login().await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        login().await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Other routes are not affected.
    let free = http.get(side.url("/api/free")).send().await.unwrap();
    assert_eq!(free.status(), StatusCode::OK);

    let events = side.recorded_events().await;
    let limited = events
        .iter()
        .filter(|e| e.deny.is_some_and(|d| d.code == DenyCode::RateLimited))
        .inspect(|e| assert_eq!(e.deny.unwrap().phase, Phase::Limit))
        .count();
    assert_eq!(limited, 3);
}

#[tokio::test]
async fn the_global_limit_counts_every_client_together() {
    let up = Upstream::echo().await;
    let (side, clock) = start(&up);
    let http = reqwest::Client::new();
    // Ten connections, far under the per-client 100/s; the route's global 4/s
    // is what refuses.
    let mut ok = 0;
    for _ in 0..10 {
        let c = reqwest::Client::new();
        if c.get(side.url("/api/search"))
            .send()
            .await
            .unwrap()
            .status()
            == StatusCode::OK
        {
            ok += 1;
        }
    }
    assert_eq!(ok, 4);
    let refused = http.get(side.url("/api/search")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&refused, "ratelimit-limit").as_deref(), Some("4"));
    assert_eq!(header(&refused, "retry-after").as_deref(), Some("1"));
    clock.advance(Duration::from_millis(250));
    let again = http.get(side.url("/api/search")).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
}

#[tokio::test]
async fn routes_can_lower_the_head_caps() {
    let up = Upstream::echo().await;
    let (side, _clock) = start(&up);
    let http = reqwest::Client::new();
    let long = format!("/api/search?q={}", "a".repeat(60));
    let resp = http.get(side.url(&long)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::URI_TOO_LONG);
    let resp = http
        .get(side.url("/api/search"))
        .header("x-filler", "b".repeat(3000))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    // The same head is fine on a route without the lower caps.
    let resp = http
        .get(side.url(&long.replace("/api/search", "/api/free")))
        .header("x-filler", "b".repeat(3000))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(up.count(), 1);
}
