//! Hardening of the admin surface itself: wrong tokens are rate limited per
//! address (429 with Retry-After, even for the right token while locked out)
//! and counted in `/metrics`; the token never reaches the logs at trace level;
//! no CORS (no `Access-Control-*` header, preflights included); and every
//! response of every route, errors and 404s too, carries the security headers.

use http::StatusCode;
use palisade_tests::binary::Running;
use palisade_tests::sidecar::Sidecar;
use palisade_tests::upstream::Upstream;

use super::{Admin, TOKEN, start, start_with};

/// A client whose connections come from `local` (any 127/8 address reaches the
/// loopback listener), so one test can be two client addresses.
fn client_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(local.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn wrong_tokens_are_rate_limited_per_address_and_counted() {
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let dir = tempfile::tempdir().unwrap();
    let side = start_with(
        &up,
        &dir,
        "auth_failures = 3\nauth_failure_window = \"1h\"\n",
    );
    let admin = Admin::new(&side);
    let guesser = client_from("127.0.0.2");
    let get = |c: &reqwest::Client, token: &str| {
        c.get(format!("{}/api/stats", admin.base))
            .bearer_auth(token)
            .send()
    };
    for i in 0..3 {
        let r = get(&guesser, &format!("guess-{i}-0123456789abcdef"))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "guess {i}");
    }
    let r = get(&guesser, "guess-3-0123456789abcdef").await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // One slot of the 1 h window frees in 20 min.
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=1200).contains(&retry), "{retry}");
    let body = r.text().await.unwrap();
    assert!(body.contains("\"error\":\"too_many_attempts\""), "{body}");
    // Locked out: the right token from there gets 429 as well, so a lucky
    // guess would not be confirmed; the public health check still answers.
    let r = get(&guesser, TOKEN).await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let r = guesser
        .get(format!("{}/healthz", admin.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Another address is not affected, and sees the counts.
    let r = get(&client_from("127.0.0.1"), TOKEN).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let metrics = admin
        .req(reqwest::Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("palisade_admin_auth_failures_total 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("palisade_admin_auth_refused_total 2"),
        "{metrics}"
    );
    assert!(!metrics.contains("127.0.0.2"), "no client in metrics");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_token_never_reaches_the_logs_at_trace_level() {
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let wrong = palisade_tests::secrets::Marker::new("a wrong admin token");
    let palisade = Running::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_palisade-e2e")),
        &format!(
            "[proxy]\nworkers = 1\nlisten = [\"127.0.0.1:0\"]\n[upstream]\nurl = \"{}\"\n\
             [routes]\nunknown = \"allow\"\n[log]\nformat = \"json\"\nlevel = \"trace\"\naccess_log = true\n\
             [store]\npath = \"{}\"\n\
             [admin]\nlisten = \"127.0.0.1:0\"\ntoken_env = \"PALISADE_E2E_UNSET_TOKEN\"\n\
             token_file = \"{}\"\nauth_failures = 2\n",
            up.url(),
            dir.path().join("p.redb").display(),
            token_file.display()
        ),
    );
    let addr: std::net::SocketAddr = palisade.admin_addr().await;
    let c = reqwest::Client::new();
    for (path, token) in [
        ("/api/stats", TOKEN),
        ("/metrics", TOKEN),
        ("/api/nope", TOKEN),
        ("/api/stats", wrong.value.as_str()),
        ("/api/stats", wrong.value.as_str()),
        ("/api/stats", wrong.value.as_str()),
    ] {
        c.get(format!("http://{addr}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
    }
    palisade.signal(nix::sys::signal::Signal::SIGTERM);
    palisade_tests::eventually("the binary stops", || {
        palisade.log().contains("\"message\":\"stopped\"")
    })
    .await;
    let log = palisade.log();
    assert!(
        log.contains("too many wrong tokens"),
        "the lockout is logged:\n{log}"
    );
    let ours = palisade_tests::secrets::Marker::with_core("the admin token", TOKEN, TOKEN);
    let leaks = palisade_tests::secrets::find_leaks(log.as_bytes(), "the log", &[ours, wrong]);
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}

/// Every kind of answer the admin listener gives: each route with the token,
/// and the errors (401, 404 inside and outside /api, 405, 400, 429).
async fn every_answer(side: &Sidecar, admin: &Admin) -> Vec<palisade_tests::admin::Answer> {
    let addr = side.palisade.admin_addr().unwrap();
    let mut all = palisade_tests::admin::walk(
        &admin.http,
        addr,
        TOKEN,
        palisade_dashboard::assets::names(),
    )
    .await;
    for (path, token) in [
        ("/api/stats", None),
        ("/api/nope", Some(TOKEN)),
        ("/nope", Some(TOKEN)),
        ("/assets/nope.js", None),
        ("/api/findings?limit=abc", Some(TOKEN)),
        ("/api/findings/not-an-id", Some(TOKEN)),
    ] {
        all.push(palisade_tests::admin::get(&admin.http, addr, path, token).await);
    }
    for method in [
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::OPTIONS,
    ] {
        for path in ["/healthz", "/api/stats", "/"] {
            let r = admin.req(method.clone(), path).send().await.unwrap();
            all.push(palisade_tests::admin::Answer {
                place: format!("{method} {path}"),
                status: r.status().as_u16(),
                headers: r.headers().clone(),
                body: r.bytes().await.unwrap().to_vec(),
            });
        }
    }
    let guesser = client_from("127.0.0.3");
    for i in 0..12 {
        let r = guesser
            .get(format!("{}/api/stats", admin.base))
            .bearer_auth(format!("wrong-{i}-0123456789abcdef"))
            .send()
            .await
            .unwrap();
        all.push(palisade_tests::admin::Answer {
            place: format!("GET /api/stats (wrong token {i})"),
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: Vec::new(),
        });
    }
    all
}

#[tokio::test]
async fn every_admin_response_carries_the_security_headers_and_no_cors() {
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let dir = tempfile::tempdir().unwrap();
    let side = start(&up, &dir);
    let admin = Admin::new(&side);
    // Something to list: a request (an endpoint, a client) and a manual block.
    reqwest::get(side.url("/a")).await.unwrap();
    let r = admin
        .req(reqwest::Method::POST, "/api/blocks")
        .header("content-type", "application/json")
        .body(r#"{"scope": "ip", "value": "203.0.113.9", "ttl": "5m", "reason": "e2e"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let answers = every_answer(&side, &admin).await;
    let statuses: std::collections::BTreeSet<u16> = answers.iter().map(|a| a.status).collect();
    for s in [200, 401, 404, 405, 429] {
        assert!(statuses.contains(&s), "no {s} among {statuses:?}");
    }
    assert!(
        statuses
            .iter()
            .any(|s| (400..500).contains(s) && ![401, 404, 405, 429].contains(s))
    );
    for a in &answers {
        let h = &a.headers;
        let what = format!("{} ({})", a.place, a.status);
        let csp = h
            .get("content-security-policy")
            .map(|v| v.to_str().unwrap());
        assert_eq!(csp, Some(palisade_dashboard::CSP), "{what}");
        assert!(palisade_dashboard::CSP.contains("frame-ancestors 'none'"));
        assert_eq!(h.get("x-frame-options").unwrap(), "DENY", "{what}");
        assert_eq!(
            h.get("x-content-type-options").unwrap(),
            "nosniff",
            "{what}"
        );
        assert_eq!(h.get("referrer-policy").unwrap(), "no-referrer", "{what}");
        let ui = a.status == 200 && (a.place == "GET /" || a.place.starts_with("GET /assets/"));
        let cache = h.get("cache-control").map(|v| v.to_str().unwrap());
        if ui {
            assert_eq!(cache, Some("no-cache"), "{what}");
        } else {
            assert_eq!(cache, Some("no-store"), "{what}");
        }
        assert!(h.get("set-cookie").is_none(), "{what}");
        if a.status == 429 {
            assert!(h.get("retry-after").is_some(), "{what}");
        }
    }
    // No CORS, for a simple request with an Origin or a preflight.
    for path in ["/healthz", "/api/stats", "/api/blocks", "/metrics", "/"] {
        let simple = admin
            .req(reqwest::Method::GET, path)
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        let preflight = admin
            .http
            .request(reqwest::Method::OPTIONS, format!("{}{path}", admin.base))
            .header("origin", "https://evil.example")
            .header("access-control-request-method", "DELETE")
            .header("access-control-request-headers", "authorization")
            .send()
            .await
            .unwrap();
        assert!(
            !preflight.status().is_success(),
            "{path}: preflight answered {}",
            preflight.status()
        );
        for r in [&simple, &preflight] {
            let cors: Vec<_> = r
                .headers()
                .keys()
                .filter(|k| k.as_str().starts_with("access-control-"))
                .collect();
            assert!(cors.is_empty(), "{path}: {cors:?}");
        }
    }
}
