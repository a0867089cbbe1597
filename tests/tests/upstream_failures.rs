//! A dead upstream answers 502 and a slow one 504, each with its reason code and a
//! recorded event; neither stalls the proxy for other requests.

use std::sync::Arc;

use http::StatusCode;
use palisade_models::{DenyCode, Phase};
use palisade_tests::sidecar::{Options, Sidecar};
use palisade_tests::upstream::{Upstream, text};
use tokio::sync::Notify;

fn no_analytics() -> Options {
    Options {
        no_analytics: true,
        ..Options::default()
    }
}

/// An upstream that answers at once, except `/slow`, which it holds until
/// the returned `Notify` releases it.
async fn held_at_slow() -> (Upstream, Arc<Notify>) {
    let release = Arc::new(Notify::new());
    let hold = release.clone();
    let up = Upstream::start(move |req: http::Request<hyper::body::Incoming>| {
        let hold = hold.clone();
        async move {
            if req.uri().path() == "/slow" {
                hold.notified().await;
            }
            text(StatusCode::OK, "done")
        }
    })
    .await;
    (up, release)
}

#[tokio::test]
async fn upstream_down_is_502() {
    // A port that was just free: nothing listens there.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let side = Sidecar::start_with(&url, "", no_analytics());
    let resp = reqwest::get(side.url("/anything")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert!(resp.headers().contains_key("x-request-id"));
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("\"reason\":\"upstream_unavailable\""),
        "{body}"
    );
    let events = side.recorded_events().await;
    let deny = events[0].deny.expect("a denial");
    assert_eq!(
        (deny.phase, deny.code),
        (Phase::Forward, DenyCode::UpstreamUnavailable)
    );
    assert_eq!(events[0].status, 502);
}

#[tokio::test]
async fn slow_upstream_is_504_and_does_not_block_others() {
    let (up, release) = held_at_slow().await;
    let side = Sidecar::start(&up.url(), "[upstream]\nresponse_timeout = \"300ms\"\n");
    let slow = tokio::spawn(reqwest::get(side.url("/slow")));
    // Meanwhile the proxy keeps serving.
    let fast = reqwest::get(side.url("/fast")).await.unwrap();
    assert_eq!(fast.status(), StatusCode::OK);
    let slow = slow.await.unwrap().unwrap();
    assert_eq!(slow.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(slow.text().await.unwrap().contains("upstream_timeout"));
    release.notify_waiters();
}

#[tokio::test]
async fn an_upstream_response_head_past_64_kib_is_502_and_one_below_passes() {
    // The upstream connection's buffer is capped (64 KiB, so a client that stops
    // reading cannot make the upstream side pile up hyper's default ~400 KiB);
    // the response head must fit in it.
    let up = Upstream::start(|req: http::Request<hyper::body::Incoming>| async move {
        let n = if req.uri().path() == "/huge" { 80 } else { 48 } * 1024;
        let mut r = text(StatusCode::OK, "body");
        r.headers_mut().insert(
            "x-big",
            http::HeaderValue::from_str(&"a".repeat(n)).unwrap(),
        );
        r
    })
    .await;
    let side = Sidecar::start_with(&up.url(), "", no_analytics());
    let fits = reqwest::get(side.url("/fits")).await.unwrap();
    assert_eq!(fits.status(), StatusCode::OK);
    assert_eq!(fits.headers()["x-big"].len(), 48 * 1024);
    assert_eq!(fits.text().await.unwrap(), "body");

    let huge = reqwest::get(side.url("/huge")).await.unwrap();
    assert_eq!(huge.status(), StatusCode::BAD_GATEWAY);
    let body = huge.text().await.unwrap();
    assert!(
        body.contains("\"reason\":\"upstream_unavailable\""),
        "{body}"
    );
    // The proxy keeps serving after the refusal.
    let again = reqwest::get(side.url("/fits")).await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
}

#[tokio::test]
async fn each_request_on_a_kept_alive_connection_gets_its_own_response_timeout() {
    // The connection keeps one upstream timer for its requests: a timer that
    // fired must not fail the next request, and must fire again when due.
    let (up, release) = held_at_slow().await;
    let side = Sidecar::start_with(
        &up.url(),
        "[upstream]\nresponse_timeout = \"300ms\"\n",
        no_analytics(),
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let mut statuses = Vec::new();
    for path in ["/fast", "/slow", "/fast", "/slow", "/fast"] {
        let resp = client.get(side.url(path)).send().await.unwrap();
        statuses.push(resp.status().as_u16());
        resp.bytes().await.unwrap();
    }
    assert_eq!(statuses, [200, 504, 200, 504, 200]);
    let mut events = Vec::new();
    palisade_tests::eventually("all five events", || {
        side.tee().drain_into(&mut events, usize::MAX);
        events.len() >= 5
    })
    .await;
    assert_eq!(events.len(), 5);
    assert!(
        events.iter().all(|e| e.peer_port == events[0].peer_port),
        "all five on one connection: {:?}",
        events.iter().map(|e| e.peer_port).collect::<Vec<_>>()
    );
    release.notify_waiters();
}
