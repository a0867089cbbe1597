//! Load shedding (`proxy.limits.max_in_flight`): with N requests held by the
//! upstream, request N+1 is answered 503 `overloaded` with `Retry-After` while
//! the N are still held (so it waited on nothing), never reaches the upstream,
//! is recorded in the tee and counted in `/metrics`; once the held requests are
//! released, a new request is admitted again.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::StatusCode;
use palisade_models::{DenyCode, Phase};
use palisade_tests::eventually;
use palisade_tests::sidecar::{Options, Sidecar};
use palisade_tests::upstream::{Upstream, text};
use tokio::sync::watch;

const N: usize = 3;

/// An upstream that holds every request until `release` is sent `true`, and
/// counts the requests that reached it.
async fn holding_upstream() -> (Upstream, watch::Sender<bool>, Arc<AtomicUsize>) {
    let (release, held) = watch::channel(false);
    let arrived = Arc::new(AtomicUsize::new(0));
    let count = arrived.clone();
    let up = Upstream::start(move |_req| {
        let mut held = held.clone();
        let count = count.clone();
        async move {
            count.fetch_add(1, Ordering::SeqCst);
            // An Err means the test dropped the sender: answer anyway.
            let _ = held.wait_for(|go| *go).await;
            text(StatusCode::OK, "ok")
        }
    })
    .await;
    (up, release, arrived)
}

async fn metrics(side: &Sidecar) -> String {
    let addr = side.palisade.admin_addr().expect("admin listener");
    let token = side.palisade.admin_token().expect("admin token");
    let r = reqwest::Client::new()
        .get(format!("http://{addr}/metrics"))
        .bearer_auth(token.reveal())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.unwrap()
}

#[tokio::test]
async fn beyond_max_in_flight_requests_are_shed_at_once_then_admitted_again() {
    let (up, release, arrived) = holding_upstream().await;
    let side = Sidecar::start_with(
        &up.url(),
        &format!("[proxy.limits]\nmax_in_flight = {N}\n"),
        Options {
            no_analytics: true,
            ..Options::default()
        },
    );
    let http = reqwest::Client::new();
    let held: Vec<_> = (0..N)
        .map(|i| {
            let req = http.get(side.url(&format!("/held/{i}"))).send();
            tokio::spawn(req)
        })
        .collect();
    eventually("the upstream holds N requests", || {
        arrived.load(Ordering::SeqCst) == N
    })
    .await;
    let before = metrics(&side).await;
    assert!(
        before.contains(&format!("palisade_requests_in_flight {N}\n")),
        "{before}"
    );

    // Bounded, so a proxy that queues it behind the held ones fails here
    // instead of hanging.
    let shed = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        http.get(side.url("/one-more")).send(),
    )
    .await
    .expect("request N+1 was queued instead of shed")
    .unwrap();
    assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(shed.headers()["retry-after"], "1");
    let body = shed.text().await.unwrap();
    assert!(body.contains("\"reason\":\"overloaded\""), "{body}");
    assert!(body.contains("\"status\":503"), "{body}");
    // Answered while all N were still held: it queued behind nothing, and the
    // upstream never saw it.
    assert!(held.iter().all(|h| !h.is_finished()));
    assert_eq!(arrived.load(Ordering::SeqCst), N);

    release.send(true).unwrap();
    for h in held {
        let r = h.await.unwrap().unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.text().await.unwrap(), "ok");
    }
    // The held requests leave the count when their responses end; the next
    // request is admitted as soon as they have.
    eventually("the held requests have left the in-flight count", || {
        side.palisade
            .proxy_stats()
            .requests_in_flight
            .load(Ordering::SeqCst)
            == 0
    })
    .await;
    let after = http.get(side.url("/after")).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::OK);
    assert_eq!(arrived.load(Ordering::SeqCst), N + 1);

    let m = metrics(&side).await;
    assert!(
        m.contains("palisade_denied_requests_total{reason=\"overloaded\"} 1"),
        "{m}"
    );
    assert!(m.contains("palisade_requests_in_flight 0\n"), "{m}");

    // Recorded like any denial: one event, 503, denied in the accept phase.
    let mut events = Vec::new();
    eventually("all five exchanges are recorded", || {
        side.tee().drain_into(&mut events, usize::MAX);
        events.len() == N + 2
    })
    .await;
    let shed: Vec<_> = events.iter().filter(|e| e.deny.is_some()).collect();
    assert_eq!(shed.len(), 1, "{events:?}");
    assert_eq!(shed[0].status, 503);
    assert_eq!(&*shed[0].path, "/one-more");
    let d = shed[0].deny.unwrap();
    assert_eq!((d.phase, d.code), (Phase::Accept, DenyCode::Overloaded));
}

#[tokio::test]
async fn max_in_flight_zero_turns_shedding_off() {
    let (up, release, arrived) = holding_upstream().await;
    let side = Sidecar::start_with(
        &up.url(),
        "[proxy.limits]\nmax_in_flight = 0\n",
        Options {
            no_analytics: true,
            ..Options::default()
        },
    );
    let http = reqwest::Client::new();
    // Well past any small cap: all of them reach the upstream.
    let held: Vec<_> = (0..3 * N)
        .map(|i| tokio::spawn(http.get(side.url(&format!("/held/{i}"))).send()))
        .collect();
    eventually("the upstream holds every request", || {
        arrived.load(Ordering::SeqCst) == 3 * N
    })
    .await;
    release.send(true).unwrap();
    for h in held {
        assert_eq!(h.await.unwrap().unwrap().status(), StatusCode::OK);
    }
    assert_eq!(side.palisade.proxy_stats().denied(DenyCode::Overloaded), 0);
}
