//! The client address comes from X-Forwarded-For only when the peer is a trusted
//! proxy; otherwise the header is replaced, and the event says who the client was.

use http::StatusCode;
use palisade_tests::sidecar::{Options, Sidecar};
use palisade_tests::upstream::Upstream;

async fn client_ip_seen(trusted: &str, xff: &str) -> (String, String, std::net::IpAddr) {
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let side = Sidecar::start_with(
        &up.url(),
        &format!("[proxy]\ntrusted_proxies = [{trusted}]\n"),
        Options {
            no_analytics: true,
            ..Options::default()
        },
    );
    let resp = reqwest::Client::new()
        .get(side.url("/"))
        .header("x-forwarded-for", xff)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let seen = up.seen().pop().unwrap();
    let events = side.recorded_events().await;
    (
        seen.headers["x-palisade-client-ip"]
            .to_str()
            .unwrap()
            .to_string(),
        seen.headers["x-forwarded-for"]
            .to_str()
            .unwrap()
            .to_string(),
        events[0].client_ip,
    )
}

#[tokio::test]
async fn forwarded_for_is_believed_from_trusted_peers_only() {
    let (ip, xff, event_ip) = client_ip_seen("\"127.0.0.0/8\"", "203.0.113.9").await;
    assert_eq!(ip, "203.0.113.9");
    assert_eq!(xff, "203.0.113.9, 127.0.0.1");
    assert_eq!(event_ip.to_string(), "203.0.113.9");

    let (ip, xff, event_ip) = client_ip_seen("", "203.0.113.9").await;
    assert_eq!(ip, "127.0.0.1");
    assert_eq!(xff, "127.0.0.1");
    assert_eq!(event_ip.to_string(), "127.0.0.1");

    // Trusted, but the chain's nearest untrusted hop is what counts.
    let (ip, _, _) = client_ip_seen(
        "\"127.0.0.1\", \"10.0.0.0/8\"",
        "6.6.6.6, 198.51.100.4, 10.2.3.4",
    )
    .await;
    assert_eq!(ip, "198.51.100.4");
}
