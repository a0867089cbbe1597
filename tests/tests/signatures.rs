//! Attack signatures end to end: in block mode an attack in the query or the
//! JSON body gets 403 `signature` and never reaches the upstream; in detect mode
//! it is forwarded and recorded; bytes past `signatures.body_bytes` are not
//! inspected; the event names the rules, never the matched text.

use http::StatusCode;
use palisade_models::DenyCode;
use palisade_tests::sidecar::{Options, Sidecar};
use palisade_tests::upstream::Upstream;

const CONFIG: &str = r#"
    [routes]
    unknown = "deny"
    [signatures]
    body_bytes = 1024
    [[route]]
    path = "/api/search"
    [[route]]
    path = "/api/watch"
    inspect = "detect"
    [[route]]
    path = "/api/raw"
    inspect = "off"
"#;

const SQLI: &str = "q=1%27%20UNION%20SELECT%20password%20FROM%20users--";

#[tokio::test]
async fn attacks_are_blocked_detected_or_ignored_per_route() {
    let up = Upstream::echo().await;
    let side = Sidecar::start_with(
        &up.url(),
        CONFIG,
        Options {
            no_analytics: true,
            ..Options::default()
        },
    );
    let http = reqwest::Client::new();
    let get = |path: String| http.get(side.url(&path)).send();

    let clean = get("/api/search?q=blue%20running%20shoes&page=2".into())
        .await
        .unwrap();
    assert_eq!(clean.status(), StatusCode::OK);
    let blocked = get(format!("/api/search?{SQLI}")).await.unwrap();
    assert_eq!(blocked.status(), StatusCode::FORBIDDEN);
    assert!(
        blocked
            .text()
            .await
            .unwrap()
            .contains("\"reason\":\"signature\"")
    );
    assert_eq!(up.count(), 1, "the attack never reached the upstream");

    let json = |path: &str, body: String| {
        http.post(side.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let xss = r#"{"comment":"<script>alert(document.cookie)</script>"}"#;
    assert_eq!(
        json("/api/search", xss.into()).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    // The same attack after the first 1024 bytes is not inspected.
    let late = format!(
        r#"{{"pad":"{}","comment":"<script>alert(document.cookie)</script>"}}"#,
        "a".repeat(2000)
    );
    assert_eq!(
        json("/api/search", late).await.unwrap().status(),
        StatusCode::OK
    );

    // Past the 32 headers the phase keeps on the stack, headers are still seen.
    let mut many = http.get(side.url("/api/search"));
    for i in 0..40 {
        many = many.header(format!("x-filler-{i}"), "plain");
    }
    let many = many
        .header("x-comment", "<script>alert(document.cookie)</script>")
        .send()
        .await
        .unwrap();
    assert_eq!(many.status(), StatusCode::FORBIDDEN);

    let watched = get(format!("/api/watch?{SQLI}")).await.unwrap();
    assert_eq!(
        watched.status(),
        StatusCode::OK,
        "detect mode lets it through"
    );
    let raw = get(format!("/api/raw?{SQLI}")).await.unwrap();
    assert_eq!(raw.status(), StatusCode::OK);
    assert_eq!(up.count(), 4);

    let events = side.recorded_events().await;
    let sig: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.path.as_ref(),
                e.deny.map(|d| d.code),
                e.signatures.as_ref().map(|m| m.over_threshold),
            )
        })
        .collect();
    assert_eq!(
        sig,
        [
            ("/api/search", None, None),
            ("/api/search", Some(DenyCode::Signature), Some(true)),
            ("/api/search", Some(DenyCode::Signature), Some(true)),
            ("/api/search", None, None),
            ("/api/search", Some(DenyCode::Signature), Some(true)),
            ("/api/watch", None, Some(true)),
            ("/api/raw", None, None),
        ]
    );
    let m = events[1].signatures.as_ref().unwrap();
    assert!(m.score >= 5 && !m.rule_ids.is_empty(), "{m:?}");
    assert!(
        !format!("{events:?}").contains("UNION"),
        "no matched text in events"
    );
}
