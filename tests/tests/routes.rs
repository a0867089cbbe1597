//! Declared routes: matched requests carry their template, undeclared ones are
//! denied (404 unknown_route) or let through marked undeclared, ambiguous paths
//! are refused, and each route's body cap answers 413 without the upstream ever
//! seeing the body.

use http::StatusCode;
use palisade_models::{DenyCode, Phase};
use palisade_tests::raw;
use palisade_tests::sidecar::{Options, Sidecar};
use palisade_tests::upstream::Upstream;

const ROUTES: &str = r#"
[routes]
unknown = "deny"
max_body_bytes = 64
[[route]]
path = "/api/users/{id}"
methods = ["GET", "PUT"]
[[route]]
path = "/api/upload"
methods = ["POST"]
max_body_bytes = 1024
[[route]]
path = "/files/{*rest}"
"#;

fn no_analytics() -> Options {
    Options {
        no_analytics: true,
        ..Options::default()
    }
}

#[tokio::test]
async fn declared_routes_pass_and_carry_their_template() {
    let up = Upstream::echo().await;
    let side = Sidecar::start_with(&up.url(), ROUTES, no_analytics());
    let c = reqwest::Client::new();
    let ok = c.get(side.url("/api/users/42?x=1")).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let ev = side.recorded_events().await;
    assert_eq!(ev[0].route.as_deref(), Some("/api/users/{id}"));
    assert!(!ev[0].undeclared);

    let files = c.delete(side.url("/files/a/b/c.txt")).send().await.unwrap();
    assert_eq!(files.status(), StatusCode::OK);
    assert_eq!(up.count(), 2);
}

#[tokio::test]
async fn undeclared_paths_and_methods_are_denied() {
    let up = Upstream::echo().await;
    let side = Sidecar::start_with(&up.url(), ROUTES, no_analytics());
    let c = reqwest::Client::new();
    for (method, path) in [
        ("GET", "/api/admin"),
        ("DELETE", "/api/users/42"),
        ("GET", "/api/users/42/extra"),
    ] {
        let resp = c
            .request(method.parse().unwrap(), side.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{method} {path}");
        assert!(resp.text().await.unwrap().contains("unknown_route"));
    }
    assert_eq!(up.count(), 0);
    let ev = side.recorded_events().await;
    let deny = ev[0].deny.expect("denied");
    assert_eq!(
        (deny.phase, deny.code),
        (Phase::Route, DenyCode::UnknownRoute)
    );
}

#[tokio::test]
async fn undeclared_paths_can_be_let_through_and_marked() {
    let up = Upstream::echo().await;
    let side = Sidecar::start_with(
        &up.url(),
        &ROUTES.replace("unknown = \"deny\"", "unknown = \"allow\""),
        no_analytics(),
    );
    let resp = reqwest::get(side.url("/internal/debug")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let ev = side.recorded_events().await;
    assert!(ev[0].undeclared);
    assert_eq!(ev[0].route, None);
    assert_eq!(up.count(), 1);
}

#[tokio::test]
async fn dot_segments_never_reach_route_matching() {
    let up = Upstream::echo().await;
    let side = Sidecar::start(&up.url(), ROUTES);
    for path in [
        "/files/../etc/passwd",
        "/files/%2e%2e/secret",
        "/api/users/./42",
    ] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let resp = raw::exchange(side.addr, req.as_bytes()).await;
        assert_eq!(raw::status(&resp), 400, "{path}: {resp}");
    }
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn body_caps_answer_413_before_the_upstream_sees_the_body() {
    let up = Upstream::echo().await;
    let side = Sidecar::start_with(&up.url(), ROUTES, no_analytics());
    let c = reqwest::Client::new();

    // Declared by Content-Length: refused before anything is forwarded.
    let big = c
        .post(side.url("/api/upload"))
        .body(vec![b'x'; 2048])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(up.count(), 0);

    // Within the cap: passes.
    let fits = c
        .post(side.url("/api/upload"))
        .body(vec![b'x'; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(fits.status(), StatusCode::OK);
    assert_eq!(up.count(), 1);

    // The default cap (64 bytes) applies to routes that set none.
    let put = c
        .put(side.url("/api/users/1"))
        .body(vec![b'x'; 65])
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Chunked, with no length to check up front: counted while streaming.
    let mut req = String::from(
        "POST /api/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    );
    req.push_str(&format!("800\r\n{}\r\n0\r\n\r\n", "y".repeat(0x800)));
    let resp = raw::exchange(side.addr, req.as_bytes()).await;
    assert_eq!(raw::status(&resp), 413, "{resp}");
    let events = side.recorded_events().await;
    assert!(
        events
            .iter()
            .any(|e| e.deny.is_some_and(|d| d.code == DenyCode::BodyTooLarge))
    );
}

#[tokio::test]
async fn a_streamed_body_crossing_the_cap_midway_is_cut_and_answered_413() {
    use http_body_util::BodyExt;
    // An upstream that reads the whole body before answering, as most do.
    let up = Upstream::start(|req: http::Request<hyper::body::Incoming>| async move {
        let whole = req.into_body().collect().await;
        let status = if whole.is_ok() {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        };
        palisade_tests::upstream::text(status, "read")
    })
    .await;
    let side = Sidecar::start(&up.url(), ROUTES);
    // 1000 bytes pass the first-frame check; the next 1000 cross the 1024 cap.
    let mut req = String::from(
        "POST /api/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    );
    for _ in 0..2 {
        req.push_str(&format!("3e8\r\n{}\r\n", "z".repeat(1000)));
    }
    req.push_str("0\r\n\r\n");
    let resp = raw::exchange(side.addr, req.as_bytes()).await;
    assert_eq!(raw::status(&resp), 413, "{resp}");
    assert!(resp.contains("body_too_large"), "{resp}");
}
