//! A full tee drops and counts; requests never wait for it.

use http::StatusCode;
use palisade_tests::sidecar::{Options, Sidecar};
use palisade_tests::upstream::Upstream;

#[tokio::test]
async fn a_full_ring_drops_and_counts_without_stalling_requests() {
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let side = Sidecar::start_with(
        &up.url(),
        "[tee]\ncapacity = 4\n",
        Options {
            no_analytics: true,
            ..Options::default()
        },
    );
    let c = reqwest::Client::new();
    for _ in 0..20 {
        assert_eq!(c.get(side.url("/")).send().await.unwrap().status(), 200);
    }
    let tee = side.tee().clone();
    palisade_tests::eventually("all 20 exchanges accounted for", || {
        tee.len() + tee.dropped() as usize == 20
    })
    .await;
    assert_eq!(tee.len(), 4);
    assert_eq!(tee.dropped(), 16);
    assert_eq!(up.count(), 20);
}
